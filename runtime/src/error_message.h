/* Internal to libtdlrt: where tdl_set_error writes the message that
 * tdl_last_error returns (status.c). One buffer per thread in the optimised
 * build (error_message.c); one for the program in the portable build, which
 * has no threads and no thread-local storage (portable/error_message.c). */
#ifndef TDL_ERROR_MESSAGE_H
#define TDL_ERROR_MESSAGE_H

#include <stddef.h>

enum { TDL_ERROR_MESSAGE_BYTES = 512 };

/* The calling thread's message buffer of TDL_ERROR_MESSAGE_BYTES. */
char *tdl_error_message(void);

#endif
