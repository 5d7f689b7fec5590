from services.channels import run_inbound

run_inbound(__package__)
