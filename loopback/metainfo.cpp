// metainfo: to be written
