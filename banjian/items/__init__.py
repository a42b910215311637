"""Service item definitions (政务服务事项实施清单): schema, loading and validation."""
