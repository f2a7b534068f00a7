/*
 * test_progressive.c — progressive resizing's parts: the schedule's
 * progress it follows (lr_progress), the size ramp and its step costs, the
 * time budget's fit with steps of unequal cost, and model_resize (the
 * weights and momentum carried to a backend at another size).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model_open.h"
#include "harness.h"
#include "train/budget.h"
#include "train/lr_schedule.h"
#include "train/progressive.h"

static void test_progress(void) {
    LrSchedule c = { 0 };
    c.kind = LR_COSINE;
    c.base = 0.1;
    c.warmup_epochs = 1;
    c.steps_per_epoch = 10;
    lr_plan(&c, 110);
    EXPECT(lr_progress(&c, 0) == 0 && lr_progress(&c, 9) == 0, "no progress through the warmup");
    EXPECT_NEAR(lr_progress(&c, 10), 0.0, 0);
    EXPECT_NEAR(lr_progress(&c, 59), 49.0 / 99.0, 1e-15);
    EXPECT_NEAR(lr_progress(&c, 109), 1.0, 0);
    double at50 = lr_progress(&c, 50);
    lr_replan(&c, 50, 80); /* a budget's re-plan: progress continuous, 1 at the new end */
    EXPECT_NEAR(lr_progress(&c, 50), at50, 1e-15);
    EXPECT_NEAR(lr_progress(&c, 79), 1.0, 1e-15);
    for (int i = 1; i < 90; i++) EXPECT(lr_progress(&c, i) >= lr_progress(&c, i - 1), "monotone at %d", i);
    LrSchedule e = { 0 }; /* a per-epoch kind: step / (T_max * steps per epoch) */
    e.kind = LR_COSINE_ANNEALING;
    e.T_max = 4;
    e.steps_per_epoch = 25;
    EXPECT_NEAR(lr_progress(&e, 50), 0.5, 0);
    EXPECT_NEAR(lr_progress(&e, 400), 1.0, 0);
}

static Progressive ramp(int min, int full, int step, double start, double end, const char *freeze) {
    TrainConfig c;
    config_defaults(&c);
    c.image_size = full;
    c.progressive_min_size = min;
    c.progressive_step = step;
    c.progressive_start = start;
    c.progressive_end = end;
    Net net;
    Error err;
    CHECK(net_build(&net, "alexnet", 10, full, -1, &err) == 0, "%s", err.msg);
    if (freeze) CHECK(net_set_training(&net, freeze, 1.0, &err) == 0, "%s", err.msg);
    Progressive p;
    EXPECT(progressive_init(&p, &c, &net, &err) == 0, "progressive_init: %s", err.msg);
    return p;
}

/* A training step's multiply-adds at size, as the ramp should weigh it. */
static double macs_at(int size, const char *freeze) {
    Net n;
    Error err;
    CHECK(net_build(&n, "alexnet", 10, size, -1, &err) == 0, "%s", err.msg);
    if (freeze) CHECK(net_set_training(&n, freeze, 1.0, &err) == 0, "%s", err.msg);
    return net_forward_macs(&n) + net_backward_macs(&n);
}

static void test_ramp(void) {
    Progressive p = ramp(64, 96, 16, 0.4, 0.8, NULL);
    EXPECT(p.n_sizes == 3 && p.sizes[0] == 64 && p.sizes[1] == 80 && p.sizes[2] == 96, "sizes 64, 80, 96 (%d)",
           p.n_sizes);
    EXPECT(progressive_size(&p, 0.0) == 64 && progressive_size(&p, 0.4) == 64, "min size until the ramp starts");
    EXPECT(progressive_size(&p, 0.8) == 96 && progressive_size(&p, 1.0) == 96, "full size from its end");
    /* in between the nearest size of the ramp: 64 + 32 * (u - 0.4) / 0.4 rounded to a multiple of 16 */
    EXPECT(progressive_size(&p, 0.49) == 64 && progressive_size(&p, 0.51) == 80, "64 -> 80 at u 0.5");
    EXPECT(progressive_size(&p, 0.69) == 80 && progressive_size(&p, 0.71) == 96, "80 -> 96 at u 0.7");
    for (int i = 1; i <= 1000; i++)
        EXPECT(progressive_size(&p, i / 1000.0) >= progressive_size(&p, (i - 1) / 1000.0), "grows at %d", i);
    for (int i = 0; i < 3; i++)
        EXPECT_NEAR(progressive_cost(&p, p.sizes[i]), macs_at(p.sizes[i], NULL) / macs_at(96, NULL), 1e-12);
    EXPECT(p.cost[0] < p.cost[1] && p.cost[1] < 1.0 && p.cost[2] == 1.0, "smaller steps cost less");
    EXPECT(progressive_cost(&p, 72) == 1.0, "a size off the ramp: 1");
    progressive_free(&p);
    /* a step that does not divide the span: the last size is the full one */
    p = ramp(64, 100, 16, 0.0, 1.0, NULL);
    EXPECT(p.n_sizes == 4 && p.sizes[2] == 96 && p.sizes[3] == 100, "64, 80, 96, 100 (%d)", p.n_sizes);
    EXPECT(progressive_size(&p, 0.99) == 100, "the nearest size near the end is the full one");
    progressive_free(&p);
    /* start == end: a jump */
    p = ramp(64, 96, 16, 0.5, 0.5, NULL);
    EXPECT(progressive_size(&p, 0.4999) == 64 && progressive_size(&p, 0.5) == 96, "a jump at 0.5");
    progressive_free(&p);
    /* what trains counts: a frozen backbone's steps have less backward work at every size */
    p = ramp(64, 96, 16, 0.4, 0.8, "features");
    EXPECT_NEAR(p.cost[0], macs_at(64, "features") / macs_at(96, "features"), 1e-12);
    progressive_free(&p);
    /* off: full size, cost 1, nothing allocated */
    p = ramp(0, 96, 16, 0.4, 0.8, NULL);
    EXPECT(!progressive_on(&p) && progressive_size(&p, 0.0) == 96 && progressive_cost(&p, 64) == 1.0 && !p.sizes,
           "off");
}

/* Steps [from, to) at 0.5 before step 10 and 1 after, whatever the plan. */
static double half_first_ten(const void *user, int64_t from, int64_t to, int64_t total) {
    (void)user;
    (void)total;
    double u = 0;
    for (int64_t i = from; i < to; i++) u += i < 10 ? 0.5 : 1.0;
    return u;
}

static void test_fit(void) {
    /* without a cost: 100 s, 1 s a step, no epoch end cost, 1000 steps an epoch: 100 steps */
    EXPECT(budget_fit(100, 0, 1000, 1.0, 0.0, NULL) == 100, "100 steps");
    StepCost cost = { half_first_ten, NULL };
    /* 10 half-cost steps (5 s), then 95 full ones: 105 */
    EXPECT(budget_fit(100, 0, 1000, 1.0, 0.0, &cost) == 105, "105 steps (%lld)",
           (long long)budget_fit(100, 0, 1000, 1.0, 0.0, &cost));
    /* from step 20 on every step costs 1 */
    EXPECT(budget_fit(100, 20, 1000, 1.0, 0.0, &cost) == 100, "from step 20: 100");
    /* epoch ends of 3 s every 10 steps: n + 3 * ceil(n / 10) <= left, with the first ten halved */
    for (double left = 1; left < 200; left += 7) {
        int64_t n = budget_fit(left, 0, 10, 1.0, 3.0, &cost), want = 0;
        for (int64_t k = 1; k < 1000; k++)
            if (half_first_ten(NULL, 0, k, k) + 3.0 * (double)((k + 9) / 10) <= left) want = k;
        EXPECT(n == want, "left %g: %lld steps, brute force %lld", left, (long long)n, (long long)want);
    }
    /* all steps cheap: more than left / step_seconds fit */
    EXPECT(budget_fit(4, 0, 1000, 1.0, 0.0, &cost) == 8, "8 half-cost steps in 4 s");
}

static void test_resize(const char *backend) {
    ModelOptions o = { .backbone = "alexnet",
                       .num_classes = 5,
                       .image_size = 96,
                       .dropout = -1,
                       .seed = 7,
                       .backend = backend,
                       .device = "cpu",
                       .precision = "fp32",
                       .batch = 2,
                       .threads = 1 };
    Model m;
    Error err;
    if (model_open(&m, &o, &err) != 0) {
        EXPECT(0, "%s: %s", backend, err.msg);
        return;
    }
    size_t P = m.net.param_count;
    float *mom = malloc(P * sizeof(float)), *w = malloc(P * sizeof(float)), *back = malloc(P * sizeof(float));
    for (size_t i = 0; i < P; i++) mom[i] = (float)((i % 97) * 1e-3);
    backend_set_momentum(&m.be, mom);
    memcpy(w, m.params, P * sizeof(float));
    float *carry = malloc(P * sizeof(float));
    EXPECT(model_resize(&m, 64, carry, &err) == 0, "%s: resize to 64: %s", backend, err.msg);
    EXPECT(m.net.image_size == 64 && m.net.layers[0].in_h == 64, "%s: the net is at 64", backend);
    backend_get_params(&m.be, back);
    EXPECT(memcmp(back, w, P * sizeof(float)) == 0, "%s: the weights carried over exactly", backend);
    backend_get_momentum(&m.be, back);
    EXPECT(memcmp(back, mom, P * sizeof(float)) == 0, "%s: the momentum carried over exactly", backend);
    /* the new backend runs a batch at 64 */
    size_t sample = input_sample_bytes(backend_input_format(&m.be), 64);
    unsigned char *x = calloc(2, sample);
    ForwardArgs fa = { .train = 1 };
    backend_forward(&m.be, x, 2, &fa);
    int32_t labels[2] = { 1, 3 };
    LossArgs la = { .global_batch = 2 };
    double loss = backend_backward(&m.be, labels, 2, &la, NULL, NULL);
    EXPECT(isfinite(loss), "%s: a step at 64 (loss %g)", backend, loss);
    free(x);
    free(carry);
    free(mom);
    free(w);
    free(back);
    model_close(&m);
}

int main(void) {
    test_progress();
    test_ramp();
    test_fit();
    for (int i = 0; backend_name_at(i); i++)
        if (strcmp(backend_name_at(i), "cuda") != 0) test_resize(backend_name_at(i));
    return test_summary("progressive resizing");
}
