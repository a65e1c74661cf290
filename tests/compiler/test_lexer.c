/* Scanner tests: token kinds, byte-offset locations, literal values and the
 * lexical errors E0002-E0006, driving the Flex scanner directly. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "diag.h"
#include "tdl.tab.h"
#include "tdl.yy.h"

enum { MAX_TOKENS = 64 };

typedef struct token {
    int kind;
    YYSTYPE value;
    tsc_loc loc;
} token;

/* A scanned text: its tokens (ending with the end-of-file token) and what diag printed. */
typedef struct lex_fixture {
    tsc_source *source;
    tsc_arena *arena;
    token tokens[MAX_TOKENS];
    int count;
    int errors;
    char *diagnostics;
    size_t diagnostics_size;
} lex_fixture;

static int setup(void **state)
{
    *state = calloc(1, sizeof(lex_fixture));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    lex_fixture *fx = *state;
    tsc_arena_free(fx->arena);
    tsc_source_free(fx->source);
    free(fx->diagnostics);
    free(fx);
    return 0;
}

static lex_fixture *scan_bytes(void **state, const char *text, size_t length)
{
    lex_fixture *fx = *state;
    fx->source = tsc_source_from_string("lex.tdl", text, length);
    fx->arena = tsc_arena_new();
    FILE *stream = open_memstream(&fx->diagnostics, &fx->diagnostics_size);
    assert_non_null(stream);
    diag_options options = { .format = DIAG_FORMAT_TEXT, .color = false, .stream = stream };
    diag_begin(&options);

    tdl_parse_ctx ctx = { .source = fx->source, .arena = fx->arena };
    yyscan_t scanner;
    assert_int_equal(yylex_init_extra(&ctx, &scanner), 0);
    ctx.scanner = scanner;
    YY_BUFFER_STATE buffer = yy_scan_bytes(fx->source->text, (int)fx->source->length, scanner);
    do {
        assert_true(fx->count < MAX_TOKENS);
        token *t = &fx->tokens[fx->count++];
        t->kind = tdl_scan(&t->value, &t->loc, scanner);
    } while (fx->tokens[fx->count - 1].kind != TOK_YYEOF);
    yy_delete_buffer(buffer, scanner);
    yylex_destroy(scanner);

    diag_end();
    fclose(stream);
    fx->errors = ctx.error_count;
    return fx;
}

static lex_fixture *scan(void **state, const char *text)
{
    return scan_bytes(state, text, strlen(text));
}

static void assert_kinds(const lex_fixture *fx, const int *kinds, int count)
{
    assert_int_equal(fx->count, count);
    for (int i = 0; i < count; i++)
        assert_int_equal(fx->tokens[i].kind, kinds[i]);
}

static void assert_span(const token *t, uint32_t first, uint32_t last)
{
    assert_int_equal(t->loc.first, first);
    assert_int_equal(t->loc.last, last);
}

/* Reserved words are their own tokens; longer words and '_x' are identifiers; '_' alone is '_'. */
static void test_keywords_and_identifiers(void **state)
{
    lex_fixture *fx = scan(state, "model input loss metric output optimizer const true false f32 i32 "
                                  "models inputs _ _x x1 F32");
    const int kinds[] = {
        TOK_MODEL, TOK_INPUT, TOK_LOSS, TOK_METRIC, TOK_OUTPUT, TOK_OPTIMIZER, TOK_CONST, TOK_TRUE,
        TOK_FALSE, TOK_F32, TOK_I32, TOK_IDENT, TOK_IDENT, TOK_UNDERSCORE, TOK_IDENT, TOK_IDENT, TOK_IDENT,
        TOK_YYEOF,
    };
    assert_kinds(fx, kinds, (int)(sizeof kinds / sizeof kinds[0]));
    assert_string_equal(fx->tokens[11].value.TOK_IDENT, "models");
    assert_string_equal(fx->tokens[14].value.TOK_IDENT, "_x");
    assert_string_equal(fx->tokens[16].value.TOK_IDENT, "F32");
    assert_int_equal(fx->errors, 0);
}

/* Punctuation tokens, with byte spans; whitespace and comments produce nothing. */
static void test_punctuation_and_locations(void **state)
{
    lex_fixture *fx = scan(state, "{}()[],;:=-  # a comment ; ( \n\tabc");
    const int kinds[] = {
        TOK_LBRACE, TOK_RBRACE, TOK_LPAREN, TOK_RPAREN, TOK_LBRACKET, TOK_RBRACKET, TOK_COMMA,
        TOK_SEMI, TOK_COLON, TOK_ASSIGN, TOK_MINUS, TOK_IDENT, TOK_YYEOF,
    };
    assert_kinds(fx, kinds, (int)(sizeof kinds / sizeof kinds[0]));
    for (int i = 0; i < 11; i++)
        assert_span(&fx->tokens[i], (uint32_t)i, (uint32_t)i);
    assert_span(&fx->tokens[11], 31, 33);
    assert_ptr_equal(fx->tokens[11].loc.file, fx->source);
    int line, col;
    tsc_loc_line_col(fx->source, fx->tokens[11].loc.first, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 2);
}

/* The end-of-file token sits just after the last real token, not after trailing comments. */
static void test_end_of_file_location(void **state)
{
    lex_fixture *fx = scan(state, "x ;\n\n# done\n");
    assert_int_equal(fx->count, 3);
    assert_int_equal(fx->tokens[2].kind, TOK_YYEOF);
    assert_span(&fx->tokens[2], 3, 3);
}

/* Integers are decimal int64: the largest is accepted, one more is E0004. */
static void test_integers(void **state)
{
    lex_fixture *fx = scan(state, "0 42 007 9223372036854775807 9223372036854775808");
    assert_int_equal(fx->tokens[0].value.TOK_INT, 0);
    assert_int_equal(fx->tokens[1].value.TOK_INT, 42);
    assert_int_equal(fx->tokens[2].value.TOK_INT, 7);
    assert_true(fx->tokens[3].value.TOK_INT == INT64_MAX);
    assert_int_equal(fx->tokens[4].kind, TOK_INT);
    assert_span(&fx->tokens[4], 29, 47);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "lex.tdl:1:30: error: integer literal 9223372036854775808 is out of range "
                           "(the largest is 9223372036854775807) [E0004]\n"));
}

/* Floats need digits on both sides of '.', or an exponent. */
static void test_floats(void **state)
{
    lex_fixture *fx = scan(state, "0.5 1e-7 2.5E3 3e+2 0.0 0e-99");
    for (int i = 0; i < 6; i++)
        assert_int_equal(fx->tokens[i].kind, TOK_FLOAT);
    assert_true(fx->tokens[0].value.TOK_FLOAT == 0.5);
    assert_true(fx->tokens[1].value.TOK_FLOAT == 1e-7);
    assert_true(fx->tokens[2].value.TOK_FLOAT == 2500.0);
    assert_true(fx->tokens[3].value.TOK_FLOAT == 300.0);
    assert_true(fx->tokens[4].value.TOK_FLOAT == 0.0);
    assert_true(fx->tokens[5].value.TOK_FLOAT == 0.0);
    assert_int_equal(fx->errors, 0);
}

/* Every number becomes a C float: the largest f32 and the smallest normal one
 * are accepted; past them is E0005, whether the literal would overflow a
 * double too (1e999) or only a float (1e39). */
static void test_floats_beyond_f32(void **state)
{
    lex_fixture *fx = scan(state, "3.4028234e38 1.1754944e-38 1e39 3.4028236e38 1e999");
    assert_true(fx->tokens[0].value.TOK_FLOAT == 3.4028234e38);
    assert_true(fx->tokens[1].value.TOK_FLOAT == 1.1754944e-38);
    assert_int_equal(fx->errors, 3);
    assert_non_null(strstr(fx->diagnostics,
                           "lex.tdl:1:28: error: float literal 1e39 is out of range for f32 "
                           "(the largest is about 3.4e38) [E0005]\n"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:33: error: float literal 3.4028236e38 is out of range"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:46: error: float literal 1e999 is out of range"));
    assert_int_equal(fx->tokens[2].kind, TOK_FLOAT);
    assert_true(fx->tokens[2].value.TOK_FLOAT == 0.0);
}

/* A nonzero literal that would round to 0 or to a subnormal f32 is E0005. */
static void test_floats_below_f32(void **state)
{
    lex_fixture *fx = scan(state, "1e-50 1e-40 1.1754942e-38 1e-400");
    assert_int_equal(fx->errors, 4);
    assert_non_null(strstr(fx->diagnostics,
                           "lex.tdl:1:1: error: float literal 1e-50 is too close to 0 for f32 "
                           "(the smallest normal f32 is about 1.2e-38) [E0005]\n"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:7: error: float literal 1e-40 is too close to 0"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:13: error: float literal 1.1754942e-38 is too close"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:27: error: float literal 1e-400 is too close"));
}

/* '-' is its own token: the parser folds it into the number. */
static void test_minus_is_separate(void **state)
{
    lex_fixture *fx = scan(state, "-3 -0.5");
    const int kinds[] = { TOK_MINUS, TOK_INT, TOK_MINUS, TOK_FLOAT, TOK_YYEOF };
    assert_kinds(fx, kinds, 5);
    assert_int_equal(fx->tokens[1].value.TOK_INT, 3);
}

/* Strings are unescaped (\" \\ \n \t \r) and span their quotes. */
static void test_strings(void **state)
{
    lex_fixture *fx = scan(state, "\"conv_1\" \"a\\\"b\\\\c\\n\\t\\r\" \"\" \"caf\xc3\xa9\"");
    assert_int_equal(fx->errors, 0);
    assert_int_equal(fx->tokens[0].kind, TOK_STRING);
    assert_string_equal(fx->tokens[0].value.TOK_STRING, "conv_1");
    assert_span(&fx->tokens[0], 0, 7);
    assert_string_equal(fx->tokens[1].value.TOK_STRING, "a\"b\\c\n\t\r");
    assert_string_equal(fx->tokens[2].value.TOK_STRING, "");
    assert_string_equal(fx->tokens[3].value.TOK_STRING, "caf\xc3\xa9");
}

/* A string cut by the end of the line is E0003, and scanning goes on at the next line. */
static void test_unterminated_string(void **state)
{
    lex_fixture *fx = scan(state, "x = \"abc);\ny");
    const int kinds[] = { TOK_IDENT, TOK_ASSIGN, TOK_STRING, TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 5);
    assert_string_equal(fx->tokens[2].value.TOK_STRING, "abc);");
    assert_span(&fx->tokens[2], 4, 9);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:5: error: unterminated string"));
    assert_non_null(strstr(fx->diagnostics, "[E0003]"));
}

/* An unknown escape is E0006 with the caret on the backslash. */
static void test_bad_escape(void **state)
{
    lex_fixture *fx = scan(state, "\"a\\qb\"");
    assert_int_equal(fx->tokens[0].kind, TOK_STRING);
    assert_string_equal(fx->tokens[0].value.TOK_STRING, "aqb");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "lex.tdl:1:3: error: unknown escape sequence '\\q' in string "
                           "(use \\\\, \\\", \\n, \\t or \\r) [E0006]\n"));
}

/* A run of invalid characters is one E0002 and yields no token; UTF-8 is shown intact. */
static void test_invalid_characters(void **state)
{
    lex_fixture *fx = scan(state, "a @$ b\n\xef\xbc\x9b c . d");
    const int kinds[] = { TOK_IDENT, TOK_IDENT, TOK_IDENT, TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 5);
    assert_int_equal(fx->errors, 3);
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:3: error: invalid characters '@$' [E0002]\n"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:2:1: error: invalid character '\xef\xbc\x9b' [E0002]\n"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:2:7: error: invalid character '.' [E0002]\n"));
}

/* NUL and other control bytes are invalid characters, shown escaped, never a crash. */
static void test_control_bytes(void **state)
{
    const char text[] = { 'a', ' ', '\0', '\x01', ' ', 'b' };
    lex_fixture *fx = scan_bytes(state, text, sizeof text);
    const int kinds[] = { TOK_IDENT, TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 3);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "error: invalid characters '\\x00\\x01' [E0002]"));
}

/* A NUL inside a string, which would cut it short as a C string, is E0002
 * with the caret on the NUL; the string keeps the other bytes. */
static void test_nul_in_string(void **state)
{
    const char text[] = "x = \"relu\0junk\";";
    lex_fixture *fx = scan_bytes(state, text, sizeof text - 1);
    const int kinds[] = { TOK_IDENT, TOK_ASSIGN, TOK_STRING, TOK_SEMI, TOK_YYEOF };
    assert_kinds(fx, kinds, 5);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "lex.tdl:1:10: error: invalid character '\\x00' in string: "
                           "a string cannot contain NUL [E0002]\n"));
    assert_string_equal(fx->tokens[2].value.TOK_STRING, "relujunk");
}

/* No escape makes a NUL: "\0" and a backslash before a raw NUL are unknown
 * escapes (E0006), each reported once. */
static void test_escaped_nul_in_string(void **state)
{
    const char text[] = "\"relu\\0junk\" \"relu\\\0junk\"";
    lex_fixture *fx = scan_bytes(state, text, sizeof text - 1);
    assert_int_equal(fx->tokens[0].kind, TOK_STRING);
    assert_int_equal(fx->tokens[1].kind, TOK_STRING);
    assert_int_equal(fx->errors, 2);
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:6: error: unknown escape sequence '\\0' in string"));
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:19: error: unknown escape sequence '\\\\x00' in string"));
}

/* A UTF-8 byte-order mark at the start of the file is skipped silently:
 * byte offsets count it, line 1's columns start after it; anywhere else it
 * is E0002. */
static void test_byte_order_mark(void **state)
{
    lex_fixture *fx = scan(state, "\xef\xbb\xbfmodel m\xef\xbb\xbf");
    const int kinds[] = { TOK_MODEL, TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 3);
    assert_span(&fx->tokens[0], 3, 7);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:8: error: invalid character '\xef\xbb\xbf' [E0002]\n"));
}

/* A byte-order mark followed by invalid characters: only those are reported. */
static void test_byte_order_mark_then_invalid(void **state)
{
    lex_fixture *fx = scan(state, "\xef\xbb\xbf@ x");
    const int kinds[] = { TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 2);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "lex.tdl:1:1: error: invalid character '@' [E0002]\n"));
}

/* A comment may end the file without a newline. */
static void test_comment_at_end_of_file(void **state)
{
    lex_fixture *fx = scan(state, "x # no newline");
    const int kinds[] = { TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 2);
    assert_int_equal(fx->errors, 0);
}

/* A very long identifier is one token, kept whole (it takes an arena block of its own). */
static void test_long_identifier(void **state)
{
    enum { LENGTH = 100000 };
    char *text = malloc(LENGTH + 3);
    assert_non_null(text);
    memset(text, 'a', LENGTH);
    memcpy(text + LENGTH, " b", 3);
    lex_fixture *fx = scan(state, text);
    free(text);
    const int kinds[] = { TOK_IDENT, TOK_IDENT, TOK_YYEOF };
    assert_kinds(fx, kinds, 3);
    assert_int_equal(strlen(fx->tokens[0].value.TOK_IDENT), LENGTH);
    assert_span(&fx->tokens[0], 0, LENGTH - 1);
    assert_string_equal(fx->tokens[1].value.TOK_IDENT, "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keywords_and_identifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_punctuation_and_locations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_of_file_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats_beyond_f32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats_below_f32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_minus_is_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaped_nul_in_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_order_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_order_mark_then_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comment_at_end_of_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_identifier, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
