// chunked
