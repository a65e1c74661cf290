/* A one-line progress bar on a terminal; plain periodic lines otherwise. */
#ifndef FASHION_PROGRESS_H
#define FASHION_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    bool interactive;       /* a terminal: redraw one line with '\r' */
    int epoch, epochs;
    long total_steps;
    double start_seconds;
    double last_print_seconds;
} progress;

double progress_now(void);
void progress_begin(progress *p, FILE *out, int epoch, int epochs, long total_steps);
/* Call after each step; redraws at most ~10 times a second (every 10 s when not a terminal). */
void progress_update(progress *p, long step, long samples, double running_loss);
void progress_end(progress *p, long samples, double running_loss);

#endif
