// peer_connection: to be written
