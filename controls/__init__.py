"""SOC 2 controls: the 61 Trust Services Criteria, the control catalog and the control matrix.

- `controls.catalog.load_catalog()` / `default_catalog()`: the criteria and controls as
  validated data (`controls/criteria.yaml`, `controls/catalog/<family>.yaml`), looked up by
  id (`catalog.get("IAM-03")`) or by criterion (`catalog.for_criterion("CC7.2")`).
- `controls.matrix.compute_matrix(cfg, ...)`: the matrix computed from synthesized
  templates; `controls.matrix.render(matrix, "md"|"csv"|"json"|"html")`.
"""
