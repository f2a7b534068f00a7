/*
 * build_info.h — facts captured when the program was built, for `alexnet
 * info`: the git commit (generated at each build by cmake/GitCommit.cmake).
 */
#ifndef ALEXNET_BUILD_INFO_H
#define ALEXNET_BUILD_INFO_H

/* "1a2b3c4d5e6f", "1a2b3c4d5e6f-dirty", or "unknown" outside a git checkout. */
extern const char alexnet_git_commit[];

#endif
