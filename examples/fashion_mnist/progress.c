#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 24 };

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_begin(progress *p, FILE *out, int epoch, int epochs, long total_steps) {
    p->out = out;
    p->interactive = isatty(fileno(out)) != 0;
    p->epoch = epoch;
    p->epochs = epochs;
    p->total_steps = total_steps;
    p->start_seconds = progress_now();
    p->last_print_seconds = 0.0;
}

static void format_duration(char *buf, size_t size, double seconds) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
}

static void print_line(progress *p, long step, long samples, double running_loss, bool final) {
    double elapsed = progress_now() - p->start_seconds;
    double rate = elapsed > 0 ? (double)samples / elapsed : 0.0;
    double eta = step > 0 ? elapsed * (double)(p->total_steps - step) / (double)step : 0.0;
    char eta_text[32];
    format_duration(eta_text, sizeof eta_text, final ? elapsed : eta);
    int filled = p->total_steps > 0 ? (int)(BAR_WIDTH * step / p->total_steps) : BAR_WIDTH;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(p->out, "%sepoch %d/%d [%s] %ld/%ld  %.0f samples/s  loss %.4f  %s %s%s",
            p->interactive ? "\r" : "", p->epoch, p->epochs, bar, step, p->total_steps, rate,
            running_loss, final ? "took" : "ETA", eta_text,
            !p->interactive ? "\n" : final ? "\033[K\n" : "\033[K");
    fflush(p->out);
}

void progress_update(progress *p, long step, long samples, double running_loss) {
    double now = progress_now();
    double interval = p->interactive ? 0.1 : 10.0;
    if (now - p->last_print_seconds < interval) return;
    p->last_print_seconds = now;
    print_line(p, step, samples, running_loss, false);
}

void progress_end(progress *p, long samples, double running_loss) {
    print_line(p, p->total_steps, samples, running_loss, true);
}
