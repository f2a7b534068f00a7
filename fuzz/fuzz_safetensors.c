/*
 * fuzz_safetensors.c — libFuzzer target: the safetensors reader and the
 * model-file loader on arbitrary bytes. A file that opens is converted tensor
 * by tensor, described as a model (checkpoint_open), matched against the Net
 * it describes and, when it matches, loaded — the path of eval, predict and
 * train --pretrained; an int8 model (quantization metadata) through
 * quant_load, as model_open reads one.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "io/checkpoint.h"
#include "io/quant_file.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("st", data, size);
    Error err;
    StFile f;
    if (st_read(&f, path, &err) == 0) {
        for (int i = 0; i < f.n; i++) {
            const StTensor *t = &f.tensors[i];
            if (t->numel > (1 << 20) || st_find(&f, t->name) != t) continue;
            float *buf = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
            st_to_f32(&f, t, buf, &err);
            free(buf);
        }
        st_meta(&f, "backbone");
        st_free(&f);
    }
    ModelFile m;
    if (checkpoint_open(path, &m, &err) == 0) {
        Net net;
        if (checkpoint_is_quantized(&m) &&
            net_build(&net, m.info.backbone, m.info.num_classes, m.info.image_size, 0.0f, &err) == 0 &&
            net.param_count < (1u << 22)) {
            float *params = malloc(sizeof(float) * net.param_count);
            QuantModel q;
            if (params) quant_load(&m, &net, params, &q, &err);
            if (params) quant_free(&q);
            free(params);
        } else if (net_build(&net, m.info.backbone, m.info.num_classes, m.info.image_size, 0.0f, &err) == 0 &&
                   checkpoint_match(&m, &net, &err) == 0) {
            float *params = malloc(sizeof(float) * net.param_count);
            if (params) checkpoint_load(&m, &net, params, &err);
            free(params);
        }
        checkpoint_close(&m);
    }
    return 0;
}
