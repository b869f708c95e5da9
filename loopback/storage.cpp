// storage: to be written
