// sha1: to be written
