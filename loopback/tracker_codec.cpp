// tracker_codec: to be written
