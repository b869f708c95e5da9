// cmd_info
