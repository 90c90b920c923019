// HDF5 serial. Its type and property-list identifiers are macros over globals that Swift
// cannot import; the functions below expose the ones ExpertStream uses.
#ifndef EXPERTSTREAM_CHDF5_SHIM_H
#define EXPERTSTREAM_CHDF5_SHIM_H

#include <hdf5.h>

static inline hid_t es_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t es_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t es_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t es_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t es_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t es_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t es_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t es_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t es_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline unsigned es_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned es_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned es_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline size_t es_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline hid_t es_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t es_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
/// Turns off HDF5's printing of error stacks to stderr; errors are reported by the caller.
static inline void es_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
