/*
 * test_schedule.c — exact values of the learning-rate schedules.
 */
#include <math.h>

#include "harness.h"
#include "train/lr_schedule.h"

static LrSchedule seed_cosine(long S) {
    LrSchedule s = { 0 };
    s.kind = LR_COSINE_ANNEALING;
    s.base = 0.13;
    s.eta_min = 0.0;
    s.warmup_epochs = 5;
    s.T_max = 150;
    s.steps_per_epoch = S;
    return s;
}

int main(void) {
    const long S = 625; /* e.g. 1.28M images / global batch 2048 */
    LrSchedule s = seed_cosine(S);
    /* warmup: linear from ~0, step i gives base*(i+1)/W */
    EXPECT_NEAR(lr_at(&s, 0), 0.13 / (5.0 * S), 1e-15);
    EXPECT_NEAR(lr_at(&s, 5 * S - 1), 0.13, 1e-15);
    EXPECT_NEAR(lr_at(&s, 2 * S), 0.13 * (2.0 * S + 1) / (5.0 * S), 1e-15);
    /* first step after warmup is epoch 5 of the cosine staircase: 0.1296, not 0.13 */
    EXPECT(fabs(lr_at(&s, 5 * S) - 0.1296) < 5e-5, "epoch 5 lr %.6f", lr_at(&s, 5 * S));
    EXPECT_NEAR(lr_at(&s, 5 * S), 0.13 * (1 + cos(M_PI * 5 / 150)) / 2, 1e-15);
    /* staircase: constant within an epoch */
    EXPECT_NEAR(lr_at(&s, 7 * S), lr_at(&s, 8 * S - 1), 0.0);
    /* last epoch (149): ~1.4e-5 */
    double last = lr_at(&s, 150 * S - 1);
    EXPECT(last > 1.3e-5 && last < 1.5e-5, "last-epoch lr %.3e", last);
    /* eta_min lifts the floor */
    s.eta_min = 1e-3;
    EXPECT_NEAR(lr_at(&s, 150 * S - 1), 1e-3 + (0.13 - 1e-3) * (1 + cos(M_PI * 149 / 150)) / 2, 1e-15);

    /* step: torchvision's x0.1 every 30 epochs */
    LrSchedule st = { 0 };
    st.kind = LR_STEP;
    st.base = 0.01;
    st.gamma = 0.1;
    st.warmup_epochs = 0;
    st.steps_per_epoch = 100;
    Error err;
    EXPECT(lr_milestones_parse(&st, "30,60,90", 1, &err) == 0, "%s", err.msg);
    EXPECT_NEAR(lr_at(&st, 0), 0.01, 1e-15);
    EXPECT_NEAR(lr_at(&st, 30 * 100 - 1), 0.01, 1e-15);
    EXPECT_NEAR(lr_at(&st, 30 * 100), 0.001, 1e-15);
    EXPECT_NEAR(lr_at(&st, 95 * 100), 0.00001, 1e-15);
    EXPECT(lr_milestones_parse(&st, "30,20", 1, &err) != 0, "decreasing milestones accepted");
    EXPECT(lr_milestones_parse(&st, "30,x", 1, &err) != 0, "malformed milestones accepted");
    const char *malformed[] = { "30,", ",30", " 30", "+30", "30, 60", "0x1e", "30,,60" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        EXPECT(lr_milestones_parse(&st, malformed[i], 1, &err) != 0, "milestones '%s' accepted", malformed[i]);
    /* a saved run's list as earlier versions took it still resumes */
    EXPECT(lr_milestones_parse(&st, "30, 60,", 0, &err) == 0 && st.n_milestones == 2 && st.milestones[1] == 60,
           "a saved '30, 60,' reads as 30,60: %s", err.msg);

    /* exponential: gamma^epoch after warmup */
    LrSchedule ex = { 0 };
    ex.kind = LR_EXPONENTIAL;
    ex.base = 0.1;
    ex.gamma = 0.9;
    ex.warmup_epochs = 1;
    ex.steps_per_epoch = 10;
    EXPECT_NEAR(lr_at(&ex, 0), 0.01, 1e-15);
    EXPECT_NEAR(lr_at(&ex, 10), 0.1 * 0.9, 1e-15);
    EXPECT_NEAR(lr_at(&ex, 35), 0.1 * 0.9 * 0.9 * 0.9, 1e-15);

    /* fractional warmup: floor(0.5 * 10) = 5 steps */
    ex.warmup_epochs = 0.5;
    EXPECT_NEAR(lr_at(&ex, 4), 0.1, 1e-15);
    EXPECT_NEAR(lr_at(&ex, 5), 0.1, 1e-15);

    /* per-step cosine over the run: warmup 10 steps, then to eta_min exactly at the last step (N - 1) */
    LrSchedule c = { 0 };
    c.kind = LR_COSINE;
    c.base = 0.1;
    c.eta_min = 0.002;
    c.warmup_epochs = 1;
    c.steps_per_epoch = 10;
    lr_plan(&c, 110);
    EXPECT_NEAR(lr_at(&c, 9), 0.1, 1e-15);
    EXPECT_NEAR(lr_at(&c, 10), 0.1, 1e-15); /* u = 0 */
    EXPECT_NEAR(lr_at(&c, 109), 0.002, 1e-15);
    EXPECT_NEAR(lr_at(&c, 59), 0.002 + 0.098 * (1 + cos(M_PI * 49.0 / 99.0)) / 2, 1e-15);
    for (long i = 11; i < 110; i++) EXPECT(lr_at(&c, i) < lr_at(&c, i - 1), "cosine falls at step %ld", i);
    /* a re-plan at step 50 to 80 steps: continuous there, eta_min at step 79, u linear in between */
    double before = lr_at(&c, 50);
    lr_replan(&c, 50, 80);
    EXPECT_NEAR(lr_at(&c, 50), before, 1e-15);
    EXPECT_NEAR(lr_at(&c, 79), 0.002, 1e-15);
    EXPECT_NEAR(lr_at(&c, 30), 0.002 + 0.098 * (1 + cos(M_PI * 20.0 / 99.0)) / 2, 1e-15); /* history kept */
    /* re-plans keep going: later, longer */
    lr_replan(&c, 70, 200);
    EXPECT(lr_at(&c, 70) - lr_at(&c, 71) < lr_at(&c, 69) - lr_at(&c, 70), "a longer plan slows the decay");
    EXPECT_NEAR(lr_at(&c, 199), 0.002, 1e-15);
    /* linear: the same progress, a straight line */
    LrSchedule l = c;
    l.kind = LR_LINEAR;
    lr_plan(&l, 110);
    EXPECT_NEAR(lr_at(&l, 60), 0.002 + 0.098 * (1 - 50.0 / 99.0), 1e-15);
    EXPECT_NEAR(lr_at(&l, 109), 0.002, 1e-15);
    /* a warmup in steps overrides the one in epochs */
    l.warmup_steps = 4;
    lr_plan(&l, 20);
    EXPECT_NEAR(lr_at(&l, 0), 0.1 / 4, 1e-15);
    EXPECT_NEAR(lr_at(&l, 19), 0.002, 1e-15);

    LrKind k;
    EXPECT(lr_kind_parse(&k, "cosine_annealing", &err) == 0 && k == LR_COSINE_ANNEALING, "parse");
    EXPECT(lr_kind_parse(&k, "cosine", &err) == 0 && k == LR_COSINE, "parse cosine");
    EXPECT(lr_kind_parse(&k, "linear", &err) == 0 && k == LR_LINEAR, "parse linear");
    EXPECT(lr_kind_parse(&k, "cosine_restarts", &err) != 0, "unknown schedule accepted");
    return test_summary("lr schedule");
}
