/*
 * fuzz_state.c — libFuzzer target: the run-state loader of `train --resume`
 * on arbitrary bytes: checkpoint_read_state_info, then the configuration it
 * carries through config_from_json and config_validate (and back to JSON), and
 * the run record (fingerprint, running sums, a time budget's plan) through
 * run_record_parse and budget_from_json, as
 * cmd_train and the trainer do before they rebuild the run.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "io/checkpoint.h"
#include "train/budget.h"
#include "train/config.h"
#include "train/fingerprint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("state", data, size);
    Error err;
    TrainPosition pos;
    if (checkpoint_read_state_info(path, &pos, &err) != 0) return 0;
    TrainConfig c;
    config_defaults(&c);
    if (config_from_json(&c, pos.config_json, &err) == 0) {
        config_validate(&c, "state", &err);
        free(config_to_json(&c));
    }
    if (pos.run_json) {
        RunFingerprint fp;
        RunSums epoch, window;
        char *plan = NULL;
        if (run_record_parse(pos.run_json, &fp, &epoch, &window, &plan, &err) == 0) {
            Budget b;
            LrSchedule s = { 0 };
            char *again = plan && budget_from_json(&b, &s, plan, &err) == 0 ? budget_to_json(&b, &s) : NULL;
            free(run_record_to_json(&fp, &epoch, &window, again));
            free(again);
        }
        free(plan);
    }
    free(pos.config_json);
    free(pos.run_json);
    return 0;
}
