"""`python -m charter.schemas`: rewrite the JSON Schema files from the models."""

from charter.schemas import write_all

for path in write_all():
    print(path)
