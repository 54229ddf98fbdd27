// The CBLAS declarations only: Lopt loads OpenBLAS at run time (see LoptCore's BLAS.swift),
// so this module links nothing.
#include <cblas.h>
