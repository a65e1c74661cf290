/* What every stage of tsc uses: internal errors, memory, the arena, source
 * files and locations (util.c). It knows nothing of TDL. */
#ifndef TSC_COMMON_H
#define TSC_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define TSC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define TSC_NORETURN __attribute__((noreturn))
#else
#define TSC_PRINTF(fmt_index, first_arg)
#define TSC_NORETURN
#endif

/* Internal bugs, never user errors: print file:line and abort. */
TSC_NORETURN void tsc_internal_error(const char *file, int line, const char *fmt, ...) TSC_PRINTF(3, 4);
#define TSC_ASSERT(cond) \
    ((cond) ? (void)0 : tsc_internal_error(__FILE__, __LINE__, "assertion failed: %s", #cond))
#define TSC_UNREACHABLE() tsc_internal_error(__FILE__, __LINE__, "unreachable")

/* malloc/calloc/realloc that abort with a message when memory runs out. */
void *tsc_xmalloc(size_t size);
void *tsc_xcalloc(size_t count, size_t size);
void *tsc_xrealloc(void *ptr, size_t size);
char *tsc_xstrdup(const char *s);
char *tsc_xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *tsc_format(const char *fmt, ...) TSC_PRINTF(1, 2);
char *tsc_format_v(const char *fmt, va_list args) TSC_PRINTF(1, 0);

/* A bump allocator: the AST and the checked graph live in one and are freed together. */
typedef struct tsc_arena tsc_arena;
tsc_arena *tsc_arena_new(void);
void tsc_arena_free(tsc_arena *arena);
void *tsc_arena_alloc(tsc_arena *arena, size_t size);       /* zeroed, max-aligned */
char *tsc_arena_strndup(tsc_arena *arena, const char *s, size_t n);
char *tsc_arena_format(tsc_arena *arena, const char *fmt, ...) TSC_PRINTF(2, 3);

/* A source file held in memory. text is NUL-terminated; length excludes the NUL. */
typedef struct tsc_source {
    const char *path;   /* as the user wrote it: printed in diagnostics */
    char *text;
    size_t length;
    uint32_t *line_starts; /* byte offset of each line's first byte, for tsc_loc_line_col */
    size_t line_count;
} tsc_source;

/* Reads a file; returns NULL (and errno set) on failure. */
tsc_source *tsc_source_read(const char *path);
/* Wraps a buffer (copied), for tests and the fuzzer. */
tsc_source *tsc_source_from_string(const char *path, const char *text, size_t length);
void tsc_source_free(tsc_source *source);

/* A span of source bytes [first, last], both inclusive. Line and column are
 * computed only when printing. A location with file == NULL is "nowhere". */
typedef struct tsc_loc {
    const tsc_source *file;
    uint32_t first;
    uint32_t last;
} tsc_loc;

/* The span from a's first byte to b's last byte. */
tsc_loc tsc_loc_join(tsc_loc a, tsc_loc b);
/* 1-based line and column (in bytes) of a byte offset. */
void tsc_loc_line_col(const tsc_source *file, uint32_t offset, int *line, int *col);

#endif /* TSC_COMMON_H */
