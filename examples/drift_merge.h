/* mlops-drift --merge (drift_merge.c): the fleet's drift report from its replicas' snapshots. */
#ifndef MLOPS_DRIFT_MERGE_H
#define MLOPS_DRIFT_MERGE_H

/* Run `mlops-drift --merge ...` (argv[1] is "--merge"); returns the exit status. */
int drift_merge_main(int argc, char **argv);

#endif
