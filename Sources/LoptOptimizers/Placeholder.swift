// placeholder until this target gets its code
