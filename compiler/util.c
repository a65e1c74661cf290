/* Common services of every stage: internal errors, checked allocation, an
 * arena for the AST, source files held in memory, and source locations. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* The largest source accepted: offsets are uint32_t and the scanner takes an int. */
#define TSC_SOURCE_MAX ((size_t)0x7ffffff0)

void tsc_internal_error(const char *file, int line, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "tsc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

static void *check_allocation(void *ptr, size_t size)
{
    if (!ptr && size > 0)
        tsc_internal_error(__FILE__, __LINE__, "out of memory allocating %zu bytes", size);
    return ptr;
}

void *tsc_xmalloc(size_t size)
{
    return check_allocation(malloc(size ? size : 1), size);
}

void *tsc_xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return check_allocation(calloc(1, 1), 1);
    if (count > SIZE_MAX / size)
        tsc_internal_error(__FILE__, __LINE__, "allocation of %zu x %zu bytes overflows", count, size);
    return check_allocation(calloc(count, size), count * size);
}

void *tsc_xrealloc(void *ptr, size_t size)
{
    return check_allocation(realloc(ptr, size ? size : 1), size);
}

char *tsc_xstrdup(const char *s)
{
    return tsc_xstrndup(s, strlen(s));
}

char *tsc_xstrndup(const char *s, size_t n)
{
    size_t length = strnlen(s, n);
    char *copy = tsc_xmalloc(length + 1);
    memcpy(copy, s, length);
    copy[length] = '\0';
    return copy;
}

/* vprintf into a buffer from alloc(context, size). */
static char *format_with(void *(*alloc)(void *, size_t), void *context, const char *fmt, va_list args)
{
    va_list again;
    va_copy(again, args);
    int length = vsnprintf(NULL, 0, fmt, args);
    if (length < 0)
        tsc_internal_error(__FILE__, __LINE__, "bad format string \"%s\"", fmt);
    char *text = alloc(context, (size_t)length + 1);
    vsnprintf(text, (size_t)length + 1, fmt, again);
    va_end(again);
    return text;
}

static void *heap_alloc(void *context, size_t size)
{
    (void)context;
    return tsc_xmalloc(size);
}

char *tsc_format_v(const char *fmt, va_list args)
{
    return format_with(heap_alloc, NULL, fmt, args);
}

char *tsc_format(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = format_with(heap_alloc, NULL, fmt, args);
    va_end(args);
    return text;
}

/* ---- Arena ---------------------------------------------------------- */

/* Blocks are chained; an allocation larger than a block gets a block of its own. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t capacity;
    alignas(max_align_t) unsigned char data[];
} arena_block;

struct tsc_arena {
    arena_block *blocks;
};

enum { ARENA_BLOCK_SIZE = 64 * 1024 };

tsc_arena *tsc_arena_new(void)
{
    return tsc_xcalloc(1, sizeof(tsc_arena));
}

void tsc_arena_free(tsc_arena *arena)
{
    if (!arena)
        return;
    arena_block *block = arena->blocks;
    while (block) {
        arena_block *next = block->next;
        free(block);
        block = next;
    }
    free(arena);
}

static arena_block *arena_add_block(tsc_arena *arena, size_t capacity)
{
    if (capacity > SIZE_MAX - sizeof(arena_block))
        tsc_internal_error(__FILE__, __LINE__, "arena allocation of %zu bytes is too large", capacity);
    arena_block *block = tsc_xmalloc(sizeof(arena_block) + capacity);
    block->used = 0;
    block->capacity = capacity;
    block->next = arena->blocks;
    arena->blocks = block;
    return block;
}

void *tsc_arena_alloc(tsc_arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align)
        tsc_internal_error(__FILE__, __LINE__, "arena allocation of %zu bytes is too large", size);
    size_t rounded = (size + align - 1) / align * align;
    if (rounded == 0)
        rounded = align;
    arena_block *block = arena->blocks;
    if (!block || block->capacity - block->used < rounded) {
        if (rounded > ARENA_BLOCK_SIZE / 4) {
            /* A big request gets its own block, so the current block's free space is kept.
             * The dedicated block goes behind the head so the head keeps serving small ones. */
            arena_block *big = tsc_xmalloc(sizeof(arena_block) + rounded);
            big->used = rounded;
            big->capacity = rounded;
            if (block) {
                big->next = block->next;
                block->next = big;
            } else {
                big->next = NULL;
                arena->blocks = big;
            }
            memset(big->data, 0, rounded);
            return big->data;
        }
        block = arena_add_block(arena, ARENA_BLOCK_SIZE);
    }
    void *ptr = block->data + block->used;
    block->used += rounded;
    memset(ptr, 0, rounded);
    return ptr;
}

char *tsc_arena_strndup(tsc_arena *arena, const char *s, size_t n)
{
    size_t length = strnlen(s, n);
    char *copy = tsc_arena_alloc(arena, length + 1);
    memcpy(copy, s, length);
    return copy;
}

static void *arena_alloc_for_format(void *context, size_t size)
{
    return tsc_arena_alloc(context, size);
}

char *tsc_arena_format(tsc_arena *arena, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = format_with(arena_alloc_for_format, arena, fmt, args);
    va_end(args);
    return text;
}

/* ---- Sources -------------------------------------------------------- */

/* Where every line starts: line and column then cost a binary search, so
 * that printing every location of a huge model stays linear. */
static void index_lines(tsc_source *source)
{
    size_t count = 1;
    for (size_t i = 0; i < source->length; i++)
        count += source->text[i] == '\n';
    source->line_starts = tsc_xmalloc(count * sizeof *source->line_starts);
    source->line_count = 0;
    /* A UTF-8 byte-order mark is not part of line 1: columns and excerpts
     * start after it, as compilers treat it. */
    bool bom = source->length >= 3 && memcmp(source->text, "\xEF\xBB\xBF", 3) == 0;
    source->line_starts[source->line_count++] = bom ? 3 : 0;
    for (size_t i = 0; i < source->length; i++)
        if (source->text[i] == '\n')
            source->line_starts[source->line_count++] = (uint32_t)(i + 1);
}

tsc_source *tsc_source_from_string(const char *path, const char *text, size_t length)
{
    TSC_ASSERT(length <= TSC_SOURCE_MAX);
    tsc_source *source = tsc_xmalloc(sizeof *source);
    source->path = tsc_xstrdup(path);
    source->text = tsc_xmalloc(length + 1);
    if (length > 0)
        memcpy(source->text, text, length);
    source->text[length] = '\0';
    source->length = length;
    index_lines(source);
    return source;
}

tsc_source *tsc_source_read(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    size_t capacity = 4096;
    size_t length = 0;
    char *text = tsc_xmalloc(capacity);
    for (;;) {
        if (capacity - length < 2) {
            if (capacity > TSC_SOURCE_MAX) {
                free(text);
                fclose(file);
                errno = EFBIG;
                return NULL;
            }
            capacity *= 2;
            text = tsc_xrealloc(text, capacity);
        }
        size_t got = fread(text + length, 1, capacity - length - 1, file);
        length += got;
        if (got == 0)
            break;
    }
    int failed = ferror(file);
    int saved_errno = errno;
    fclose(file);
    if (failed || length > TSC_SOURCE_MAX) {
        free(text);
        errno = failed ? saved_errno : EFBIG;
        return NULL;
    }
    text[length] = '\0';
    tsc_source *source = tsc_xmalloc(sizeof *source);
    source->path = tsc_xstrdup(path);
    source->text = text;
    source->length = length;
    index_lines(source);
    return source;
}

void tsc_source_free(tsc_source *source)
{
    if (!source)
        return;
    free((char *)source->path);
    free(source->text);
    free(source->line_starts);
    free(source);
}

/* ---- Locations ------------------------------------------------------ */

tsc_loc tsc_loc_join(tsc_loc a, tsc_loc b)
{
    if (!a.file)
        return b;
    if (!b.file)
        return a;
    tsc_loc joined = a;
    joined.first = a.first < b.first ? a.first : b.first;
    joined.last = a.last > b.last ? a.last : b.last;
    return joined;
}

void tsc_loc_line_col(const tsc_source *file, uint32_t offset, int *line, int *col)
{
    size_t end = offset < file->length ? offset : file->length;
    /* The last line that starts at or before `end`. */
    size_t low = 0, high = file->line_count;
    while (high - low > 1) {
        size_t mid = low + (high - low) / 2;
        if (file->line_starts[mid] <= end)
            low = mid;
        else
            high = mid;
    }
    *line = (int)low + 1;
    *col = (int)(end - file->line_starts[low]) + 1;
}
