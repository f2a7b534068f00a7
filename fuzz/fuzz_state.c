/*
 * fuzz_state.c — libFuzzer target: the run-state loader of `train --resume`
 * on arbitrary bytes: checkpoint_read_state_info, then the configuration it
 * carries through config_from_json (and back to JSON), as cmd_train does
 * before it rebuilds the run.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "io/checkpoint.h"
#include "train/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("state", data, size);
    Error err;
    TrainPosition pos;
    if (checkpoint_read_state_info(path, &pos, &err) != 0) return 0;
    TrainConfig c;
    config_defaults(&c);
    if (config_from_json(&c, pos.config_json, &err) == 0) free(config_to_json(&c));
    free(pos.config_json);
    return 0;
}
