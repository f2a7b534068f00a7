/*
 * node_scan.h — one scan of an image folder per machine: under MPI the ranks
 * of a node share the list their first rank made, instead of each walking a
 * tree of up to millions of files (train and eval use it).
 */
#ifndef ALEXNET_NODE_SCAN_H
#define ALEXNET_NODE_SCAN_H

#include "common/util.h"
#include "data/dataset.h"
#include "dist/dist.h"

/* The ranks on one machine share one scan of a folder: its first rank scans,
 * the others that were given the same folder get its list (a pack is opened
 * by each: its index is mapped, not scanned; a rank given another folder
 * scans its own, and the run contract then names the difference). A
 * collective of the machine's ranks: every rank calls it, also with dir ""
 * (no data: ds zeroed, 0), and whatever failed. A failed scan's message is on
 * the rank that scanned; the ranks that shared it return -1 with err empty.
 * One rank on its machine (or no MPI): dataset_scan. */
int dataset_scan_node(Dist *d, Dataset *ds, const char *dir, Error *err);

#endif
