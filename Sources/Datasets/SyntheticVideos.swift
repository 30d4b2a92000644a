// SyntheticVideos: the built-in corpus, robot-pushing-like scenes rendered procedurally, so that
// everything (prepare, train, evaluate, sample) runs with no download.
//
// A scene is a textured table in a tray (smooth low-frequency colour variation, a wood-like grain and
// fine per-pixel texture, a darker rim), 2–4 coloured objects (shaded discs and rounded boxes with soft
// shadows) and a gripper arm that enters from the top edge, follows a smooth random trajectory towards
// the objects, lowers itself and pushes whatever it touches. Lighting (colour tint, brightness, a light
// direction gradient, vignetting) varies per video. The background is static within a video, so
// consecutive frames are strongly correlated and the model has structure to learn.
//
// Determinism: a video is a pure function of (seed, index, frames, height, width). The scene lives in
// resolution-independent "reference units" (the shorter image side is 64 units), is simulated in Double
// with a private SplitMix64 and no libm transcendentals (our own polynomial sine), and is rasterised
// with analytic signed-distance coverage (anti-aliased edges) in Float. Every operation is IEEE-exact
// (+, −, ×, ÷, √, rounding), so the bytes do not depend on the platform. Simulation step t never reads
// later random draws, so the first T frames of a longer video equal the T-frame video.
//
// Conditioned modes (docs/design.md §11), each a separate scene so the classic corpus above stays byte for
// byte what it always was (tests pin its hashes):
//
// - Actions (`actions: true`, `vt prepare synthetic --actions`): the gripper's motion at each step IS the
//   action. action_t = (dx, dy, dz, dopening) is the displacement from frame t to frame t+1 (after the
//   tray's walls stopped it), so positions[t+1] = positions[t] + actions[t] exactly: x, y in reference
//   units (the shorter image side is 64 units, x to the right, y down; one unit is one pixel at 64×64,
//   half a pixel at 32×32), z the height above the table (0 touches it and pushes, 1 fully raised),
//   dopening the change of the fingers' opening (0 closed, 1 open). The actions come from a seeded,
//   smooth process (momentum, pursuit of a target that is often an object, and noise), so a model that
//   sees them knows where the gripper goes and one that does not can only guess. The action of the last
//   frame (towards the frame after the video) is simulated too, so a longer video's actions start with
//   a shorter one's. Objects are pushed as in the classic scene.
// - Classes (`classes: K`, 1...6, `vt prepare synthetic --classes K`): video i has class label(i), a pure
//   function of (seed, index, K), and the table has that class's colour (`classNames`: red, orange,
//   yellow, green, teal, blue), which no lighting variation makes look like another class; objects never
//   take a colour close to the table's.
// - In both (and combined) the gripper's body is magenta, a colour nothing else in these scenes has, and
//   centred on the gripper's position, so `SyntheticMeasures` can find it in pixels; the objects' colours
//   leave out purple and pink. Everything else (the scene's layout, lighting, texture) is the classic
//   scene's for the same (seed, index).
//
// The scenes' simulation is SyntheticScene.swift, their rendering SyntheticCanvas.swift.
// Not here: writing shards (Prepare.swift with VideoShardWriter), measuring pixels (SyntheticMeasures).

/// Generates the built-in synthetic corpus: seeded, deterministic robot-pushing-like videos.
public struct SyntheticVideoGenerator: Sendable {
    public let frames: Int
    public let height: Int
    public let width: Int
    public let seed: UInt64
    /// Whether the gripper is moved by actions (the action-driven scene; see the file comment).
    public let actions: Bool
    /// K, the number of classes (0: unlabelled, the classic look).
    public let classes: Int

    /// A of the action-driven scene's actions: (dx, dy, dz, dopening).
    public static let actionWidth = 4
    /// The most classes `classes` may ask for.
    public static var maximumClasses: Int { classNames.count }
    /// Every class's name, in label order: what the class looks like.
    public static let classNames = ["red table", "orange table", "yellow table", "green table", "teal table", "blue table"]

    /// - Precondition: `frames ≥ 0`, `height ≥ 1`, `width ≥ 1` (videos are meant to be ≥ 8×8),
    ///   `classes` in 0...maximumClasses.
    public init(frames: Int, height: Int, width: Int, seed: UInt64, actions: Bool = false, classes: Int = 0) {
        precondition(frames >= 0 && height >= 1 && width >= 1,
                     "SyntheticVideoGenerator: frames must be ≥ 0 and height, width ≥ 1 " +
                     "(got frames \(frames), height \(height), width \(width))")
        precondition((0...Self.maximumClasses).contains(classes),
                     "SyntheticVideoGenerator: classes must be in 0...\(Self.maximumClasses) (got \(classes))")
        self.frames = frames
        self.height = height
        self.width = width
        self.seed = seed
        self.actions = actions
        self.classes = classes
    }

    /// Whether this is the classic corpus (no actions, no classes): the pixels every existing shard holds.
    public var isClassic: Bool { !actions && classes == 0 }
    /// The class names (the first `classes` of `classNames`), nil without classes.
    public var labelNames: [String]? { classes > 0 ? Array(Self.classNames.prefix(classes)) : nil }
    /// Reference units per pixel: 64 / min(height, width).
    public var unitsPerPixel: Double { 64.0 / Double(min(height, width)) }

    /// The class of video `index` in 0..<classes, a pure function of (seed, index, classes); nil without classes.
    public func label(index: Int) -> Int? {
        guard classes > 0 else { return nil }
        let hash = SplitMix64.mix(SplitMix64.mix(seed ^ 0x4C41_4245_4C5F_4B21) &+ UInt64(bitPattern: Int64(index)))
        return Int(hash % UInt64(classes))
    }

    /// Bytes in one frame: height × width × 3.
    public var bytesPerFrame: Int { height * width * 3 }
    /// Bytes in one video: frames × height × width × 3.
    public var bytesPerVideo: Int { frames * bytesPerFrame }

    /// Video `index` as UInt8 [frames, height, width, 3], row-major; a pure function of (seed, index, sizes).
    public func video(index: Int) -> [UInt8] {
        let count = bytesPerVideo
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            if let base = buffer.baseAddress { video(index: index, into: base) }
            initialised = count
        }
    }

    /// Writes video `index` into `buffer`, which must hold `bytesPerVideo` bytes ([frames, height, width, 3]).
    public func video(index: Int, into buffer: UnsafeMutablePointer<UInt8>) {
        video(index: index, into: buffer, actions: nil, positions: nil)
    }

    /// Writes video `index` into `buffer` ([frames, height, width, 3]), and when given its actions into
    /// `actions` ([frames, 4], row t the action taken at frame t; action-driven scenes only) and the gripper's
    /// position at every frame into `positions` ([frames, 3]: x, y in reference units, z in [0, 1]).
    public func video(index: Int, into buffer: UnsafeMutablePointer<UInt8>,
                      actions actionBuffer: UnsafeMutablePointer<Float>?, positions: UnsafeMutablePointer<Float>?) {
        precondition(actionBuffer == nil || actions, "SyntheticVideoGenerator: only the action-driven scene has actions")
        let unitsPerPixel = 64.0 / Double(min(height, width))
        var scene = makeScene(index: index)
        var canvas = Canvas(width: width, height: height, unitsPerPixel: Float(unitsPerPixel))
        defer { canvas.deallocate() }
        canvas.paintBackground(scene)
        for t in 0..<frames {
            canvas.render(scene, into: buffer + t * bytesPerFrame)
            step(&scene, frame: t, actions: actionBuffer, positions: positions)
        }
    }

    /// The gripper's path through video `index` without rendering it: positions [frames, 3] (as `video`'s)
    /// and, in the action-driven scene, the actions [frames, 4].
    public func gripperPath(index: Int) -> (positions: [Float], actions: [Float]?) {
        var scene = makeScene(index: index)
        var positions = [Float](repeating: 0, count: frames * 3)
        var path = [Float](repeating: 0, count: actions ? frames * Self.actionWidth : 0)
        positions.withUnsafeMutableBufferPointer { positionBuffer in
            path.withUnsafeMutableBufferPointer { actionBuffer in
                for t in 0..<frames {
                    step(&scene, frame: t, actions: actions ? actionBuffer.baseAddress : nil, positions: positionBuffer.baseAddress)
                }
            }
        }
        return (positions, actions ? path : nil)
    }

    /// The scene of video `index`, in this generator's mode.
    func makeScene(index: Int) -> Scene {
        let unitsPerPixel = 64.0 / Double(min(height, width))
        return Scene(seed: seed, index: index, sceneWidth: Double(width) * unitsPerPixel, sceneHeight: Double(height) * unitsPerPixel,
                     style: SceneStyle(marked: !isClassic, label: label(index: index)))
    }

    /// After frame `t` is drawn: records the gripper's position, then moves the scene on — the classic scene
    /// only while frames follow, the action-driven one also after the last (its action is the video's last row).
    private func step(_ scene: inout Scene, frame t: Int, actions actionBuffer: UnsafeMutablePointer<Float>?,
                      positions: UnsafeMutablePointer<Float>?) {
        if let positions {
            positions[3 * t] = Float(scene.gripper.x)
            positions[3 * t + 1] = Float(scene.gripper.y)
            positions[3 * t + 2] = Float(scene.gripper.z)
        }
        if actions {
            let action = scene.advanceDriven()
            if let row = actionBuffer.map({ $0 + t * Self.actionWidth }) {
                row[0] = Float(action.dx); row[1] = Float(action.dy); row[2] = Float(action.dz); row[3] = Float(action.dOpening)
            }
        } else if t + 1 < frames {
            scene.advance()
        }
    }
}
