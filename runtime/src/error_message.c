/* The last error message, one per thread (error_message.h): concurrent
 * callers never see one another's errors. */
#include "error_message.h"

static _Thread_local char last_error_message[TDL_ERROR_MESSAGE_BYTES];

char *tdl_error_message(void) { return last_error_message; }
