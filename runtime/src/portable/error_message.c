/* The last error message for the portable build (error_message.h): one
 * buffer, since the portable runtime runs on one thread, and thread-local
 * storage needs support (__aeabi_read_tp on ARM) that bare-metal C libraries
 * do not have. */
#include "error_message.h"

static char last_error_message[TDL_ERROR_MESSAGE_BYTES];

char *tdl_error_message(void) { return last_error_message; }
