"""What the landing zone and the optimizer will cost, before deploy.

`estimate(cfg, stacks)` prices synthesized templates line by line from a pinned snapshot
of AWS list prices (`prices.json`, refreshed with `refresh`), with usage assumptions from
`org.yaml`'s `cost:` section. It reads templates as data: it imports no builder and no
workload stack.
"""
