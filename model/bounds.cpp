// bounds
