/*
 * cmd_info.c — `alexnet info`: what a bug report needs — version, build
 * options, libraries and their versions, CPU features, GPUs.
 */
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cjson/cJSON.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "backend/backend.h"
#include "cli/commands.h"
#include "common/util.h"

static void cpu_features(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096], model[256] = "unknown";
    int cores = 0;
    const char *wanted[] = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"};
    int have[5] = {0};
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) { snprintf(model, sizeof model, "%s", colon + 2); model[strcspn(model, "\n")] = 0; }
        } else if (strncmp(line, "processor", 9) == 0) {
            cores++;
        } else if (strncmp(line, "flags", 5) == 0) {
            for (int i = 0; i < 5; i++) {
                char pat[32];
                snprintf(pat, sizeof pat, " %s ", wanted[i]);
                if (strstr(line, pat)) have[i] = 1;
            }
        }
    }
    if (f) fclose(f);
    printf("cpu:          %s, %d logical cores\n", model, cores);
    printf("cpu features:");
    for (int i = 0; i < 5; i++) printf(" %s%s", have[i] ? "+" : "-", wanted[i]);
    printf("\n");
}

int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("alexnet.c     %s (%s build)\n", ALX_VERSION, ALEXNET_BUILD_TYPE);
    printf("backends:     %s (default on cpu: %s)\n", backend_names(), backend_default("cpu"));
    printf("libjpeg:      API %d%s\n", JPEG_LIB_VERSION,
#ifdef LIBJPEG_TURBO_VERSION
           " (libjpeg-turbo)"
#else
           ""
#endif
    );
    printf("libpng:       %s\n", png_get_libpng_ver(NULL));
    printf("zlib:         %s\n", zlibVersion());
    printf("cJSON:        %s\n", cJSON_Version());
#ifdef _OPENMP
    printf("OpenMP:       %d, max threads %d\n", _OPENMP, omp_get_max_threads());
#endif
    cpu_features();
    return 0;
}
