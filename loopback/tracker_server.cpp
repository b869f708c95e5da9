// tracker_server: to be written
