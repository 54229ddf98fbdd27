/// Meta-training of learned optimizers: gradient estimators, the outer loop, parallel lanes.
public enum LoptMeta {}
