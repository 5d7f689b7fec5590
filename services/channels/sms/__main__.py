from services.channels import run

run(__package__)
