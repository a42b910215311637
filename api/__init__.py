"""How people reach banjian: the FastAPI app, one router per audience or resource."""
