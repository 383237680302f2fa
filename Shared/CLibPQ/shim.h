#ifndef BILLING_CLIBPQ_SHIM_H
#define BILLING_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
