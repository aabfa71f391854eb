/* The recipe's options by name (nf_recipe_*): every option's range and
 * refusals, the rule that puts the options given over the data's defaults
 * (the race, the data's model, auto with a shape option), a resume's
 * checks against its checkpoint, and the lines that say what was chosen. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "nflow.h"

enum { ROWS = 400, DIM = 3 };

static nf_data *make_data(int context, int image)
{
    static float x[ROWS * 16], c[ROWS];
    unsigned s = 12345;
    for (int i = 0; i < ROWS * 16; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = image ? (float)(s >> 24) : (float)((s >> 8) & 0xffff) / 65536.0f + (float)(i % DIM);
    }
    for (int i = 0; i < ROWS; i++)
        c[i] = (float)(i % 5);
    nf_data_options o;
    nf_data_options_default(&o);
    if (image)
        o.image_shape[0] = o.image_shape[1] = 4, o.image_shape[2] = 1;
    nf_data *d = NULL;
    nf_status st = nf_data_from_arrays(&d, x, context ? c : NULL, ROWS, image ? 16 : DIM, context, NULL, NULL, 0, &o);
    CHECK(st == NF_OK, "%s", nf_last_error());
    return d;
}

/* set NAME VALUE: refused, the message naming the option and holding `want` */
static void refused(nf_recipe *r, const char *name, const char *value, const char *want)
{
    nf_status st = nf_recipe_set(r, name, value);
    CHECK(st == NF_ERR_INVALID, "%s %s: status %d", name, value, st);
    CHECK(!strncmp(nf_last_error(), name, strlen(name)) || !strcmp(want, "unknown option"),
          "%s %s: '%s' does not name the option", name, value, nf_last_error());
    CHECK(strstr(nf_last_error(), want), "%s %s: '%s' lacks '%s'", name, value, nf_last_error(), want);
    CHECK(!nf_recipe_is_set(r, name) || !strcmp(name, "hidden"), "%s set by a refused value", name);
}

static void test_values_checked(void)
{
    nf_recipe *r;
    CHECK(nf_recipe_create(&r) == NF_OK, "create");
    refused(r, "hidden", "0", "0 out of range 1..65536");
    refused(r, "hidden", "x", "'x' is not a valid integer");
    refused(r, "hidden", "2.5", "'2.5' is not a valid integer");
    refused(r, "layers", "99999999999", "is too large (the limit is 1000)");
    refused(r, "lr", "0", "0 out of range (0, 10)");
    refused(r, "lr", "nan", "nan out of range");
    refused(r, "lr", "1e", "'1e' is not a valid number");
    refused(r, "scale-bound", "100", "out of range [0, 100)");
    refused(r, "tail-bound", "0", "out of range (0, 1000000]");
    refused(r, "dropout", "1", "1 out of range 0..0.99");
    refused(r, "batch", "1", "out of range 2..1048576");
    refused(r, "activation", "sigmoid", "unknown value 'sigmoid' (one of relu, tanh)");
    refused(r, "model", "flowy", "unknown value 'flowy' (one of auto, nice, realnvp");
    refused(r, "batch-norm", "yes", "'yes' is not 0 or 1");
    refused(r, "no-such", "1", "unknown option");
    CHECK(!nf_recipe_is_set(r, "hidden") && !nf_recipe_is_set(r, "model"), "refusals set nothing");
    CHECK(nf_recipe_set(r, "partition", "even-odd") == NF_OK, "'-' for '_': %s", nf_last_error());
    CHECK(nf_recipe_set(r, "hidden", "65536") == NF_OK && nf_recipe_set(r, "lr", "9.99") == NF_OK &&
              nf_recipe_set(r, "tail-bound", "1e6") == NF_OK && nf_recipe_set(r, "actnorm", "0") == NF_OK,
          "the ends of the ranges: %s", nf_last_error());
    CHECK(nf_recipe_is_set(r, "hidden") && nf_recipe_is_set(r, "actnorm") && !nf_recipe_is_set(r, "layers"), "set");
    nf_recipe_free(r);
    nf_recipe_free(NULL);
}

/* A program's own option checked by the library: kinds, open and closed
 * ends, choices; each refusal names it and leaves *value alone. */
static void test_own_option(void)
{
    nf_recipe_option n = {.name = "steps", .kind = NF_OPTION_INT, .min = 1, .max = 100},
                     t = {.name = "temperature", .kind = NF_OPTION_REAL, .min = 0, .max = 10, .min_open = 1},
                     c = {.name = "shape", .kind = NF_OPTION_CHOICE, .choices = "round|flat_top"},
                     f = {.name = "quiet", .kind = NF_OPTION_FLAG};
    double v = 0;
    CHECK(nf_option_parse(&n, "100", &v) == NF_OK && v == 100, "steps 100: %g", v);
    CHECK(nf_option_parse(&t, "0.5", &v) == NF_OK && v == 0.5, "temperature 0.5: %g", v);
    CHECK(nf_option_parse(&c, "flat-top", &v) == NF_OK && v == 1, "shape flat-top: %g", v);
    CHECK(nf_option_parse(&f, "1", &v) == NF_OK && v == 1, "quiet 1: %g", v);
    const struct {
        const nf_recipe_option *o;
        const char *text, *want;
    } bad[] = {
        {&n, "101", "steps: 101 out of range 1..100"},
        {&n, "0", "steps: 0 out of range 1..100"},
        {&n, "2.5", "steps: '2.5' is not a valid integer"},
        {&n, "99999999999", "steps: 99999999999 is too large (the limit is 100)"},
        {&n, "", "steps: '' is not a valid integer"},
        {&t, "0", "temperature: 0 out of range (0, 10]"},
        {&t, "1e", "temperature: '1e' is not a valid number"},
        {&t, "nan", "temperature: nan out of range (0, 10]"},
        {&c, "square", "shape: unknown value 'square' (one of round, flat_top)"},
        {&f, "yes", "quiet: 'yes' is not 0 or 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = -7;
        nf_status st = nf_option_parse(bad[i].o, bad[i].text, &v);
        CHECK(st == NF_ERR_INVALID && !strcmp(nf_last_error(), bad[i].want) && v == -7,
              "'%s': status %d, '%s' (want '%s')", bad[i].text, st, nf_last_error(), bad[i].want);
    }
    CHECK(nf_option_parse(NULL, "1", &v) == NF_ERR_INVALID, "a NULL option accepted");
}

static void test_option_table(void)
{
    int n = nf_recipe_option_count(), shapes = 0, kept = 0;
    CHECK(n > 20, "%d options", n);
    for (int i = 0; i < n; i++) {
        nf_recipe_option o;
        CHECK(nf_recipe_option_get(i, &o) == NF_OK, "%d: %s", i, nf_last_error());
        CHECK(o.name && o.help && o.help[0] && nf_recipe_option_index(o.name) == i, "%d: name, help, index", i);
        CHECK(o.min <= o.max, "%s: range %g..%g", o.name, o.min, o.max);
        CHECK((o.kind == NF_OPTION_CHOICE) == (o.choices != NULL || !strcmp(o.name, "model")), "%s: choices", o.name);
        shapes += o.shapes_model;
        kept += o.kept_on_resume;
        CHECK(!(o.shapes_model && o.kept_on_resume), "%s: both", o.name);
    }
    CHECK(shapes == 19 && kept == 6, "%d shape options, %d kept on a resume", shapes, kept);
    nf_recipe_option o;
    CHECK(nf_recipe_option_get(n, &o) == NF_ERR_INVALID && nf_recipe_option_index("nope") == -1, "out of the table");
    /* a program built when the struct ended at kept_on_resume gets that much, and its padding untouched */
    struct {
        nf_recipe_option o;
        char tail[16];
    } small;
    memset(&small, 0x5a, sizeof small);
    CHECK(nf_recipe_option_sized(0, &small.o, sizeof small.o) == NF_OK, "%s", nf_last_error());
    CHECK(small.tail[0] == 0x5a && small.tail[15] == 0x5a, "written past its size");
}

static void test_resolve(void)
{
    nf_data *d = make_data(0, 0);
    nf_recipe *r;
    nf_recipe_create(&r);
    nf_config cfg, want;
    nf_train_options opt, sized;
    int race = -1, marker = 0;
    nf_train_options_default(&opt);
    opt.user = &marker; /* the caller's fields stay */
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_OK && race == 1, "nothing set: the race (%d)", race);
    CHECK(opt.user == &marker, "the caller's user pointer lost");
    CHECK(nf_data_defaults(d, NULL, &want, &sized) == NF_OK, "defaults");
    CHECK(!memcmp(&cfg, &want, sizeof cfg) && opt.batch == sized.batch && opt.lr == sized.lr, "not the defaults");

    nf_recipe_set(r, "hidden", "24");
    nf_recipe_set(r, "lr", "0.003");
    nf_recipe_set(r, "no-whiten", "1");
    nf_recipe_set(r, "order", "reversed");
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_OK && race == 0, "a shape option: the data's rule");
    nf_data_defaults(d, NULL, &want, &sized);
    want.hidden = 24, want.whiten = 0, want.order = NF_ORDER_REVERSED;
    CHECK(!memcmp(&cfg, &want, sizeof cfg), "the options over the defaults: hidden %d whiten %d order %d", cfg.hidden,
          cfg.whiten, cfg.order);
    CHECK(opt.lr == 0.003 && opt.batch == sized.batch && opt.user == &marker, "lr %g batch %d", opt.lr, opt.batch);

    nf_recipe_set(r, "model", "auto");
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_ERR_INVALID &&
              strstr(nf_last_error(), "hidden shapes one model"), "auto with --hidden: %s", nf_last_error());
    nf_recipe_set(r, "model", "nsf");
    nf_recipe_set(r, "steps", "3"); /* steps and channels are layers and hidden by other names */
    CHECK(nf_recipe_resolve(r, d, &cfg, NULL, &race) == NF_OK && race == 0 && cfg.model == NF_MODEL_NSF &&
              cfg.layers == 3, "a model named: %d, %d layers", cfg.model, cfg.layers);
    nf_recipe_set(r, "epochs", "0");
    CHECK(nf_recipe_apply(r, NULL, &opt) == NF_OK && opt.max_epochs == 0, "apply, options alone");
    nf_recipe_free(r);
    nf_data_free(d);

    /* a context refuses the models that do not depend on one; images never race */
    d = make_data(1, 0);
    nf_recipe_create(&r);
    nf_recipe_set(r, "model", "gaussian");
    CHECK(nf_recipe_resolve(r, d, &cfg, NULL, &race) == NF_ERR_INVALID && strstr(nf_last_error(), "context"),
          "gaussian given a context: %s", nf_last_error());
    nf_recipe_free(r);
    nf_data_free(d);
    d = make_data(0, 1);
    nf_recipe_create(&r);
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_OK && race == 0 && cfg.model == NF_MODEL_GLOW,
          "images: glow (%d), no race (%d)", cfg.model, race);
    char line[256];
    size_t len = nf_recipe_summary(d, &cfg, &opt, race, line, sizeof line);
    CHECK(len == strlen(line) && strstr(line, "glow, 2 levels of 8 steps") && strstr(line, "images of 4 x 4 x 1"),
          "%s", line);
    CHECK(nf_recipe_summary(d, &cfg, &opt, race, line, 8) == len && strlen(line) == 7, "cut to fit");
    nf_recipe_free(r);
    nf_data_free(d);
}

static void test_resume(void)
{
    nf_data *d = make_data(0, 0);
    nf_recipe *r;
    nf_recipe_create(&r);
    nf_recipe_set(r, "model", "maf");
    nf_recipe_set(r, "hidden", "8");
    nf_recipe_set(r, "epochs", "2");
    nf_recipe_set(r, "lr", "0.002");
    nf_config cfg;
    nf_train_options opt;
    nf_train_options_default(&opt);
    int race;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_recipe_%d.nfc", (int)getpid());
    opt.checkpoint_path = path;
    nf_flow *f = NULL;
    nf_train_result res;
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_OK && nf_flow_create_for_data(&f, d, &cfg) == NF_OK &&
              nf_flow_fit(f, d, &opt, &res) == NF_OK, "%s", nf_last_error());
    nf_flow_free(f);
    nf_recipe_free(r);

    nf_recipe_create(&r);
    nf_recipe_set(r, "layers", "3");
    nf_train_options_default(&opt);
    CHECK(nf_recipe_resume(r, path, &opt) == NF_ERR_INVALID &&
              strstr(nf_last_error(), "layers cannot be set for a resumed run"), "%s", nf_last_error());
    nf_recipe_free(r);
    nf_recipe_create(&r);
    nf_recipe_set(r, "lr", "0.01");
    CHECK(nf_recipe_resume(r, path, &opt) == NF_ERR_INVALID &&
              strstr(nf_last_error(), "lr 0.01 differs from the 0.002 saved in"), "%s", nf_last_error());
    nf_recipe_set(r, "lr", "0.002"); /* the same value: fine */
    nf_recipe_set(r, "epochs", "7");
    nf_recipe_set(r, "patience", "3");
    CHECK(nf_recipe_resume(r, path, &opt) == NF_OK && opt.lr == 0.002 && opt.max_epochs == 7 && opt.patience == 3,
          "%s: lr %g epochs %d patience %d", nf_last_error(), opt.lr, opt.max_epochs, opt.patience);
    CHECK(nf_recipe_resume(r, "/nonexistent/x.nfc", &opt) != NF_OK, "a missing checkpoint");
    nf_recipe_free(r);
    remove(path);
    nf_data_free(d);
}

static void test_race_table(void)
{
    nf_data *d = make_data(0, 0);
    nf_recipe *r;
    nf_recipe_create(&r);
    nf_recipe_set(r, "epochs", "2");
    nf_config cfg;
    nf_train_options opt;
    nf_train_options_default(&opt);
    int race;
    nf_flow *f = NULL;
    nf_train_result res;
    CHECK(nf_recipe_resolve(r, d, &cfg, &opt, &race) == NF_OK && race == 1, "the race");
    char line[512];
    nf_recipe_summary(d, &cfg, &opt, race, line, sizeof line);
    CHECK(strstr(line, "auto: a race among maf-mog, maf, nsf-ar, made-mog and gmm for 320 rows x 3 columns"), "%s",
          line);
    CHECK(nf_flow_fit_auto(&f, d, &opt, 0, &res) == NF_OK, "%s", nf_last_error());
    char table[2048];
    size_t len = nf_flow_race_table(f, table, sizeof table);
    int lines = 0;
    for (const char *c = table; (c = strchr(c, '\n')); c++)
        lines++;
    CHECK(len == strlen(table) && lines == nf_flow_race_count(f) && lines == 5, "%d lines: %s", lines, table);
    const char *winner = strstr(table, "the winner\n");
    CHECK(winner && winner + strlen("the winner\n") == table + len, "the winner is not last: %s", table);
    CHECK(nf_flow_race_table(NULL, table, sizeof table) == 0 && table[0] == '\0', "no flow: no table");
    nf_flow_free(f);
    nf_recipe_free(r);
    nf_data_free(d);
}

/* nf_flow_config_json: the configuration's fields and the options', the
 * length snprintf's way, "null" for a flow built layer by layer. */
static void test_config_json(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 3);
    cfg.layers = 3;
    cfg.hidden = 24;
    nf_flow *f = NULL, *custom = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.batch = 77;
    opt.lr = 0.0025;
    char js[1024], small[16];
    size_t len = nf_flow_config_json(f, &opt, js, sizeof js);
    CHECK(len == strlen(js) && js[0] == '{' && js[len - 1] == '}', "%s", js);
    static const char *const want[] = {"{\"model\": \"realnvp\", \"layers\": 3, \"hidden\": 24, ",
                                       "\"batch\": 77, \"lr\": 0.0025, ", "\"partition\": \"", "\"image_shape\": [0, 0, 0]}"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(js, want[i]), "%s lacks %s", js, want[i]);
    CHECK(nf_flow_config_json(f, &opt, small, sizeof small) == len && strlen(small) == sizeof small - 1);
    nf_flow_config_json(f, NULL, js, sizeof js);
    CHECK(strstr(js, "\"batch\": ") && !strstr(js, "\"batch\": 77"), "NULL options: the defaults: %s", js);
    CHECK(nf_flow_new(&custom, 2, NF_BASE_NORMAL) == NF_OK && nf_flow_add_linear_lu(custom, 2) == NF_OK &&
          nf_flow_finalize(custom, 1) == NF_OK);
    CHECK(nf_flow_config_json(custom, &opt, js, sizeof js) == 4 && !strcmp(js, "null"), "%s", js);
    nf_flow_free(f);
    nf_flow_free(custom);
}

/* A student's configuration: the library's for the teacher where the
 * recipe sets nothing, the options set over it, the refusals. */
static void test_student(void)
{
    nf_config tc;
    nf_config_default(&tc, NF_MODEL_MAF_MOG, DIM);
    tc.hidden = 24;
    tc.layers = 2;
    tc.components = 3;
    nf_flow *t = NULL;
    CHECK(nf_flow_create(&t, &tc) == NF_OK, "%s", nf_last_error());
    nf_recipe *r = NULL;
    CHECK(nf_recipe_create(&r) == NF_OK, "create");
    nf_config got, want;
    /* nothing set: the library's kind (iaf-mog for a MoG teacher; iaf where reverse KL runs) and sizes */
    for (int reverse = 0; reverse < 2; reverse++) {
        CHECK(nf_recipe_student(r, t, reverse, &got) == NF_OK, "%s", nf_last_error());
        nf_flow_student_config(t, nf_flow_student_model(t, reverse), &want);
        CHECK(got.model == want.model && got.layers == want.layers && got.hidden == want.hidden &&
                  got.hidden_layers == want.hidden_layers && got.activation == want.activation &&
                  got.components == want.components && got.whiten == want.whiten && got.order == want.order &&
                  got.tail_weight == want.tail_weight && got.context_dim == want.context_dim,
              "reverse %d: not the library's student", reverse);
        CHECK(got.model == (reverse ? NF_MODEL_IAF : NF_MODEL_IAF_MOG), "reverse %d: model %d", reverse, got.model);
    }
    /* the options set, over the student's sizes; the rest kept */
    CHECK(!nf_recipe_set(r, "model", "maf") && !nf_recipe_set(r, "hidden", "7") &&
          !nf_recipe_set(r, "activation", "tanh") && !nf_recipe_set(r, "order", "reversed"), "set");
    CHECK(nf_recipe_student(r, t, 0, &got) == NF_OK, "%s", nf_last_error());
    nf_flow_student_config(t, NF_MODEL_MAF, &want);
    CHECK(got.model == NF_MODEL_MAF && got.hidden == 7 && got.activation == NF_ACT_TANH &&
          got.order == NF_ORDER_REVERSED, "options not applied: model %d hidden %d", got.model, got.hidden);
    CHECK(got.layers == want.layers && got.hidden_layers == want.hidden_layers && got.whiten == want.whiten &&
          got.context_dim == want.context_dim, "the teacher's sizes not kept");
    /* refused: iaf-mog by reverse KL, and auto */
    CHECK(!nf_recipe_set(r, "model", "iaf-mog"), "set");
    CHECK(nf_recipe_student(r, t, 0, &got) == NF_OK && got.model == NF_MODEL_IAF_MOG, "iaf-mog by maximum likelihood");
    CHECK(nf_recipe_student(r, t, 1, &got) == NF_ERR_INVALID && strstr(nf_last_error(), "reverse KL"),
          "iaf-mog by reverse KL: '%s'", nf_last_error());
    CHECK(!nf_recipe_set(r, "model", "auto"), "set");
    CHECK(nf_recipe_student(r, t, 0, &got) == NF_ERR_INVALID && strstr(nf_last_error(), "auto"), "auto");
    CHECK(nf_recipe_student(NULL, t, 0, &got) == NF_ERR_INVALID && nf_recipe_student(r, NULL, 0, &got) ==
          NF_ERR_INVALID, "NULL arguments");
    nf_recipe_free(r);
    nf_flow_free(t);
}

/* A flow for a target density: the recipe's kind (iaf when none) of the
 * columns asked, its shape options, no whitening, the identity
 * standardisation, the context width; auto and bad widths refused. */
static void test_target_flow(void)
{
    nf_recipe *r = NULL;
    nf_flow *f = NULL;
    nf_config got;
    double mean[3], sd[3];
    nf_config_default(&got, NF_MODEL_MAF, 1);
    CHECK(nf_recipe_create(&r) == NF_OK, "create");
    CHECK(nf_recipe_target_flow(r, 3, 0, 7, &f) == NF_OK, "%s", nf_last_error());
    CHECK(f && nf_flow_get_config(f, &got) == NF_OK && got.model == NF_MODEL_IAF && got.dim == 3 && !got.whiten &&
          got.seed == 7 && got.context_dim == 0, "the default: an iaf of 3 columns, not whitened");
    CHECK(f && nf_flow_get_standardization(f, mean, sd) == NF_OK && mean[0] == 0 && mean[2] == 0 && sd[0] == 1 &&
          sd[2] == 1, "the identity standardisation");
    nf_flow_free(f);
    CHECK(!nf_recipe_set(r, "model", "realnvp") && !nf_recipe_set(r, "layers", "4") &&
          !nf_recipe_set(r, "hidden", "9"), "set");
    CHECK(nf_recipe_target_flow(r, 2, 3, 1, &f) == NF_OK, "%s", nf_last_error());
    CHECK(f && nf_flow_get_config(f, &got) == NF_OK && got.model == NF_MODEL_REALNVP && got.layers == 4 &&
          got.hidden == 9 && got.context_dim == 3 && nf_flow_context_dim(f) == 3, "the options and the context");
    nf_flow_free(f);
    CHECK(nf_recipe_target_flow(r, 0, 0, 1, &f) == NF_ERR_INVALID && !f, "no columns");
    CHECK(nf_recipe_target_flow(r, 2, -1, 1, &f) == NF_ERR_INVALID && !f, "a negative context");
    CHECK(!nf_recipe_set(r, "model", "auto"), "set");
    CHECK(nf_recipe_target_flow(r, 2, 0, 1, &f) == NF_ERR_INVALID && !f && strstr(nf_last_error(), "auto"), "auto");
    CHECK(nf_recipe_target_flow(NULL, 2, 0, 1, &f) == NF_ERR_INVALID, "NULL recipe");
    nf_recipe_free(r);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_values_checked);
    RUN(test_own_option);
    RUN(test_option_table);
    RUN(test_resolve);
    RUN(test_resume);
    RUN(test_race_table);
    RUN(test_student);
    RUN(test_target_flow);
    RUN(test_config_json);
    TEST_SUMMARY("test_recipe");
}
