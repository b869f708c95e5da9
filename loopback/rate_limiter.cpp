// rate_limiter: to be written
