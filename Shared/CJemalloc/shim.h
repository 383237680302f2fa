#ifndef BILLING_CJEMALLOC_SHIM_H
#define BILLING_CJEMALLOC_SHIM_H
#include <jemalloc/jemalloc.h>
#endif
