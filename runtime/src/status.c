/* Status codes and the error message behind tdl_last_error() (kept per
 * thread where there are threads: error_message.h). */
#include <stdarg.h>
#include <stdio.h>

#include "error_message.h"
#include "tdl/runtime.h"

const char *tdl_last_error(void) { return tdl_error_message(); }

const char *tdl_status_name(tdl_status status) {
    switch (status) {
    case TDL_STATUS_OK: return "TDL_STATUS_OK";
    case TDL_STATUS_BAD_ARGUMENT: return "TDL_STATUS_BAD_ARGUMENT";
    case TDL_STATUS_BAD_BATCH: return "TDL_STATUS_BAD_BATCH";
    case TDL_STATUS_BAD_LABEL: return "TDL_STATUS_BAD_LABEL";
    case TDL_STATUS_BAD_SHAPE: return "TDL_STATUS_BAD_SHAPE";
    case TDL_STATUS_BAD_FILE: return "TDL_STATUS_BAD_FILE";
    case TDL_STATUS_IO: return "TDL_STATUS_IO";
    case TDL_STATUS_NO_MEMORY: return "TDL_STATUS_NO_MEMORY";
    case TDL_STATUS_NOT_FINITE: return "TDL_STATUS_NOT_FINITE";
    case TDL_STATUS_UNSUPPORTED: return "TDL_STATUS_UNSUPPORTED";
    }
    return "TDL_STATUS_UNKNOWN";
}

tdl_status tdl_set_error(tdl_status status, const char *fmt, ...) {
    char *last_error_message = tdl_error_message();
    if (fmt == NULL) {
        last_error_message[0] = '\0';
        return status;
    }
    va_list args;
    va_start(args, fmt);
    /* A message longer than the buffer is truncated, never overflowed. */
    int written = vsnprintf(last_error_message, TDL_ERROR_MESSAGE_BYTES, fmt, args);
    va_end(args);
    if (written < 0) last_error_message[0] = '\0';
    return status;
}
