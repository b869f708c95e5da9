// client: to be written
