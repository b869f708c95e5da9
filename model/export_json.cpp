// export_json
