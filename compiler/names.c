/* The one mangler: every name from the model becomes a C identifier here.
 *
 * A "plain" name, [A-Za-z][A-Za-z0-9]* joined by single underscores, that is
 * no reserved word is used as it is (conv2d_1, logits). A reserved word
 * (a C or C++ keyword, a name of the C library or of libtdlrt that generated
 * code uses, or one of the generated code's own identifiers) gets a trailing
 * underscore: memcpy_. Anything else, and any name in libtdlrt's namespace
 * (tdl, tdl_…, TDL_… in any case), is spelled "q" + its bytes, every byte
 * outside [A-Za-z0-9] as _ and two hex digits, + "_": "my layer" -> qmy_20layer_.
 * The result never starts with an underscore or contains "__" (both reserved
 * in C or C++), and the mapping is one-to-one: plain names have no trailing
 * underscore, reserved words do not start with "q", and the hex form decodes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

static const char *const reserved_words[] = {
    /* C11 keywords (the _Capital ones are not plain anyway) and C++ keywords,
     * alternative tokens included */
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
    "char", "char8_t", "char16_t", "char32_t", "class", "co_await", "co_return", "co_yield", "compl", "concept",
    "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "decltype", "default", "delete",
    "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "final", "float",
    "for", "friend", "goto", "if", "import", "inline", "int", "long", "module", "mutable", "namespace", "new",
    "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "override", "private", "protected",
    "public", "register", "reinterpret_cast", "requires", "restrict", "return", "short", "signed", "sizeof",
    "static", "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local", "throw",
    "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "wchar_t", "while", "xor", "xor_eq",
    /* what the generated files include and use */
    "NULL", "EOF", "errno", "assert", "offsetof", "size_t", "ptrdiff_t", "int8_t", "int16_t", "int32_t",
    "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "intptr_t", "uintptr_t", "SIZE_MAX", "INT32_MAX",
    "INT64_MAX", "INT_MAX", "memcpy", "memset", "memmove", "strlen", "malloc", "calloc", "realloc", "free",
    "aligned_alloc", "abort", "exit", "fabs", "sqrt", "isfinite", "isnan", "isinf", "INFINITY", "NAN", "HUGE_VAL",
    "stdin", "stdout", "stderr", "main",
    /* the generated code's own parameters, locals and macros */
    "m", "batch", "max_batch", "loss", "total_loss", "out", "outputs", "inputs", "in", "status", "pass",
    "with_backward", "config", "need", "arena", "bytes", "seed", "path", "learning_rate", "dims", "i", "k",
    "rng", "sum", "count", "base", "info", "dropout_rng", "step", NULL};

static int compare_words(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The list sorted once, then searched (names are mangled once per node). */
static bool is_reserved(const char *name) {
    static const char **sorted; /* made once, kept for the life of the process */
    static size_t count;
    if (!sorted) {
        while (reserved_words[count]) count++;
        sorted = tsc_xmalloc(count * sizeof *sorted);
        memcpy(sorted, reserved_words, count * sizeof *sorted);
        qsort(sorted, count, sizeof *sorted, compare_words);
    }
    return bsearch(&name, sorted, count, sizeof *sorted, compare_words) != NULL;
}

/* [A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)* */
static bool is_plain(const char *name) {
    if (!isalpha((unsigned char)name[0]) || (unsigned char)name[0] >= 0x80) return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80) return false;
        if (c == '_') {
            if (!isalnum((unsigned char)p[1]) || (unsigned char)p[1] >= 0x80) return false;
        } else if (!isalnum(c)) {
            return false;
        }
    }
    return true;
}

/* "tdl", "TDL", "Tdl_x"…: libtdlrt's namespace in any case. A model named
 * tdl_model would otherwise make tdl_model_create, and a model tdl with an
 * input max the macro TDL_MAX_RANK. */
static bool in_runtime_namespace(const char *name) {
    return strlen(name) >= 3 && tolower((unsigned char)name[0]) == 't' && tolower((unsigned char)name[1]) == 'd' &&
           tolower((unsigned char)name[2]) == 'l' && (name[3] == '\0' || name[3] == '_');
}

char *cg_mangle(const char *name) {
    if (is_plain(name) && !in_runtime_namespace(name))
        return is_reserved(name) ? cg_strf("%s_", name) : tsc_xstrdup(name);
    cg_buf b = {0};
    cg_buf_putc(&b, 'q');
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x80 && isalnum(*p)) cg_buf_putc(&b, (char)*p);
        else cg_buf_printf(&b, "_%02x", *p);
    }
    cg_buf_putc(&b, '_');
    return cg_buf_take(&b);
}

char *cg_join(const char *a, const char *b) {
    size_t n = strlen(a);
    /* A mangled name may end in '_': "memcpy_" + "create" -> memcpy_create, never "__". */
    return cg_strf("%s%s%s", a, n > 0 && a[n - 1] == '_' ? "" : "_", b);
}

char *cg_upper(const char *s) {
    char *out = tsc_xstrdup(s);
    for (char *p = out; *p; p++) *p = (char)toupper((unsigned char)*p);
    return out;
}
