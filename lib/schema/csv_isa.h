/* The CSV parser's structural-byte classification (csv.c), internal to the schema module. */
#ifndef MLOPS_SCHEMA_CSV_ISA_H
#define MLOPS_SCHEMA_CSV_ISA_H

/* Which fast path mlops_schema_parse_csv takes: MLOPS__CSV_AUTO (the best this CPU has, the
 * default), or one forced by tests and benchmarks: MLOPS__CSV_SWAR (no bitmap, the portable
 * path), MLOPS__CSV_AVX2, MLOPS__CSV_AVX512 (AVX-512BW). A level the CPU lacks is refused
 * (-1, nothing changes); else the level now in use. Process-wide: set it before parsing. */
enum { MLOPS__CSV_AUTO = 0, MLOPS__CSV_SWAR, MLOPS__CSV_AVX2, MLOPS__CSV_AVX512 };
int mlops__csv_force_isa(int level);

#endif
