"""One module per optimizer stack; each has `build(ctx) -> Template`. `workloads.synth` runs them."""
