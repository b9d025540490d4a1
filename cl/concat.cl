/* Copies between a whole tensor and a part of it along channels, for concat (part to whole),
 * its backward and split (whole to part): one launch per part, global (part image size, N).
 * Element i of image n of the source, from element src_first of its image on, goes to
 * element dst_first + i of the destination's image n (added to it when accumulating).
 *
 * (One launch for up to 8 parts, picking the part by get_global_id(2), was tried: PoCL turned
 * the pick into a switch and stopped vectorising; the copies ran at a third of the speed.) */

__kernel void concat_copy(TENSOR_IN(src), uint src_first, TENSOR_OUT(dst), uint dst_first,
                          uint accumulate, uint image)
{
    size_t i = get_global_id(0), n = get_global_id(1);
    if (i < image) {
        float v = AT(src, n, src_first + i);
        AT(dst, n, dst_first + i) = accumulate ? AT(dst, n, dst_first + i) + v : v;
    }
}
