#ifndef BILLING_CRDKAFKA_SHIM_H
#define BILLING_CRDKAFKA_SHIM_H
// librdkafka's C API and its mock cluster (used only by dev-kafka).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
