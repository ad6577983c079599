// The VQGAN decoder's hyper-parameters (`clipgen.vqgan.*`, docs/model-vqgan.md), read and validated once.

/// Shape of the decoder: codebook, channel widths per level, blocks, attention, output normalisation.
public struct VQGANConfig: Equatable, Sendable {
    /// Codebook entries (the transformer's vocabulary).
    public var codebookSize: Int
    /// Width of a codebook vector.
    public var embedDim: Int
    /// Channels after the post-quantisation conv (input of conv_in).
    public var zChannels: Int
    /// Channel width of each level, level 0 (full resolution) first: ch * ch_mult[l].
    public var levelChannels: [Int]
    /// Resnet blocks per level (num_res_blocks + 1, taming's decoder convention).
    public var blocksPerLevel: Int
    /// Whether each level has an attention block after each resnet block.
    public var attention: [Bool]
    /// Token grid (height, width) the decoder takes.
    public var gridHeight: Int, gridWidth: Int
    /// GroupNorm groups and epsilon.
    public var normGroups: Int
    public var normEps: Float
    /// Output x (nominally [-1, 1]) to pixel fraction: x * pixelStd + pixelMean.
    public var pixelMean: Float, pixelStd: Float

    /// Levels (L); the image is 2^(L-1) times the grid.
    public var levels: Int { levelChannels.count }
    /// Output image size.
    public var imageHeight: Int { gridHeight << (levels - 1) }
    public var imageWidth: Int { gridWidth << (levels - 1) }

    /// Reads and checks the configuration of the `vqgan` component.
    public init(_ r: ComponentReader) throws {
        codebookSize = try r.int("n_embed", in: 2...(1 << 24))
        embedDim = try r.int("embed_dim", in: 1...65536)
        zChannels = try r.int("z_channels", in: 1...65536)
        let ch = try r.int("ch", in: 1...65536)
        let file = r.file
        let multKey = r.metadataKey("ch_mult")
        guard case .array(_, let mult) = try file.value(multKey), (1...8).contains(mult.count) else {
            throw ModelError.invalidMetadata(path: file.path, key: multKey, reason: "expected 1 to 8 integers")
        }
        let multipliers = try r.ints("ch_mult", count: mult.count, in: 1...64)
        levelChannels = multipliers.map { $0 * ch }
        blocksPerLevel = try r.int("num_res_blocks", in: 1...16) + 1
        attention = try r.ints("attn_per_level", count: levelChannels.count, in: 0...1).map { $0 == 1 }
        let grid = try r.ints("grid", count: 2, in: 1...1024)
        (gridHeight, gridWidth) = (grid[0], grid[1])
        let resolution = try r.int("resolution", in: 1...16384)
        normGroups = try r.int("norm_groups", in: 1...1024)
        normEps = try r.float("norm_eps", in: 0...1)
        pixelMean = try r.float("pixel_mean", in: -1000...1000)
        pixelStd = try r.float("pixel_std", in: -1000...1000)
        _ = try r.string("activation", oneOf: ["swish"])
        guard gridHeight << (levelChannels.count - 1) == resolution || gridWidth << (levelChannels.count - 1) == resolution else {
            throw ModelError.invalidMetadata(path: file.path, key: r.metadataKey("grid"),
                                             reason: "grid \(grid) x 2^\(levelChannels.count - 1) does not give resolution \(resolution)")
        }
        for c in levelChannels where c % normGroups != 0 {
            throw ModelError.invalidMetadata(path: file.path, key: r.metadataKey("norm_groups"),
                                             reason: "\(normGroups) groups do not divide \(c) channels")
        }
    }
}
