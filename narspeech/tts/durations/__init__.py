"""Token durations: the teacher-free aligner, a teacher's attention, batched extraction, the durations file and its quality."""
