// The learned optimizers' hot loops in C, used by LoptLearned only: VeLO's per-tensor network
// and per-parameter passes, ScheduledAdamLOpt's Adam passes, and the per-parameter MLP step of
// MLPLOpt and AdafacMLP. Each is built for AVX-512, AVX2 + FMA and baseline x86-64 and picks its
// variant at run time.
#ifndef CLOPT_KERNELS_H
#define CLOPT_KERNELS_H

#include "CLoptPerParameter.h"
#include "CLoptScheduledAdam.h"
#include "CLoptVeLO.h"

#endif
